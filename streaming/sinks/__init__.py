"""Example sinks: the partitioned Parquet dataset of validated examples, and its training exports."""
