"""Per-frame change signals of a window, computed once with vector ops and cached on the window.

All signals have one value per frame position; position 0 (no previous frame) is 0.
"""

from __future__ import annotations

import numpy as np

from agents.extractors.video.window import VideoWindow

CHUNK = 256


def mean_abs_diff(window: VideoWindow) -> np.ndarray:
    """Mean absolute luma difference to the previous frame, grey levels (0-255)."""
    if "mean_abs_diff" not in window.cache:
        _pair_stats(window, None)
    result: np.ndarray = window.cache["mean_abs_diff"]
    return result


def changed_fraction(window: VideoWindow, level: int) -> np.ndarray:
    """Fraction of analysis pixels whose luma changed by more than `level` since the previous frame."""
    key = f"changed_fraction:{level}"
    if key not in window.cache:
        _pair_stats(window, level)
    result: np.ndarray = window.cache[key]
    return result


def _pair_stats(window: VideoWindow, level: int | None) -> None:
    """One pass over consecutive frame pairs (uint8 |a-b| as max-min): mean difference, changed share."""
    n = len(window)
    flat = window.luma.reshape(n, -1)
    pixels = max(1, flat.shape[1])
    mean = np.zeros(n, np.float64)
    changed = np.zeros(n, np.float64)
    for lo in range(1, n, CHUNK):
        hi = min(n, lo + CHUNK)
        a, b = flat[lo:hi], flat[lo - 1 : hi - 1]
        diff = np.maximum(a, b)
        diff -= np.minimum(a, b)
        mean[lo:hi] = diff.sum(axis=1, dtype=np.uint64) / pixels
        if level is not None:
            changed[lo:hi] = np.count_nonzero(diff > level, axis=1) / pixels
    window.cache["mean_abs_diff"] = mean
    if level is not None:
        window.cache[f"changed_fraction:{level}"] = changed


def histogram_distance(window: VideoWindow, bins: int = 64, step: int = 2) -> np.ndarray:
    """Half the L1 distance between normalised luma histograms of consecutive frames (0..1).

    The histograms count every `step`-th analysis pixel in each direction (a 160 px wide analysis
    frame at step 2 gives thousands of samples, plenty for 64 bins).
    """
    key = f"histogram_distance:{bins}:{step}"
    if key not in window.cache:
        hist = luma_histograms(window, bins, step)
        out = np.zeros(len(window), np.float64)
        if len(window) > 1:
            out[1:] = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
        window.cache[key] = out
    result: np.ndarray = window.cache[key]
    return result


def luma_histograms(window: VideoWindow, bins: int, step: int = 1) -> np.ndarray:
    """(N, bins) normalised histograms, one bincount per chunk of frames."""
    if bins not in (2, 4, 8, 16, 32, 64, 128, 256):
        raise ValueError(f"bins must be a power of two up to 256, got {bins}")
    shift = 8 - int(np.log2(bins))
    n = len(window)
    flat = window.luma[:, ::step, ::step].reshape(n, -1)
    pixels = max(1, flat.shape[1])
    hist = np.empty((n, bins), np.float64)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        codes = (flat[lo:hi] >> shift).astype(np.uint32)
        codes += (np.arange(hi - lo, dtype=np.uint32) * bins)[:, None]
        hist[lo:hi] = np.bincount(codes.ravel(), minlength=(hi - lo) * bins).reshape(hi - lo, bins)
    return hist / pixels


def robust_threshold(signal: np.ndarray, half_window: int, k: float, floor: float) -> np.ndarray:
    """Per-position threshold: median + k * 1.4826 * MAD of the signal in a centred sliding window.

    Position 0 carries no signal and takes its neighbour's value; the ends repeat. Never below `floor`.
    """
    n = len(signal)
    if n < 2:
        return np.full(n, floor, np.float64)
    values = signal.astype(np.float64)
    values[0] = values[1]
    padded = np.pad(values, half_window, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1)
    median = np.median(windows, axis=1)
    mad = np.median(np.abs(windows - median[:, None]), axis=1)
    return np.maximum(median + k * 1.4826 * mad, floor)
