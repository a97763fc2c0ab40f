"""One worked example per task family and domain, shown in the prompt (`worked_examples.json` here).

Small models copy the shape and tone of an example far more reliably than they follow a schema given in
words; they also copy its content, so a window gets the example of its own domain where there is one
(measured: with a GNOME video example, base SmolLM2 answered Bridge robot questions about "the Displays
settings window" at frames 15 and 60, outside their 10-frame windows). Each example is a benchmark reference from the dev split (never a heldout recording), with a short
summary of its window and the user turn a prompt of that window has; `python -m bench.worked_examples`
rebuilds the file from the committed case set, and a test checks that every example's recording is
outside the heldout split.

Shown as a summary in the system turn, an example was still copied across domains and recordings (the GNOME
"Displays settings" question on a Big Buck Bunny window, the AITW Clock question on a Mind2Web one): the
summary did not show the model where the example's words came from. `PromptConfig.worked_example_turns`
shows it as a previous exchange instead (the example window's own prompt, then its output as the assistant's
reply); measured with base SmolLM2-135M (6 Dec) it did worse on both splits (dev S_accepted 0.468 -> 0.383,
heldout 0.615 -> 0.480: next_subtask outputs looped until the token budget), so it is off by default and
kept for larger models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

EXAMPLES_FILE = Path(__file__).with_name("worked_examples.json")


@dataclass(frozen=True)
class WorkedExample:
    family: str
    domain: str
    case_id: str  # the benchmark case it comes from
    recording: str  # that case's recording id (see bench.split)
    window: str  # a short summary of the example's window: domain, frames, a few anchors
    output: str  # the reference output, compact JSON
    source: str = "reference"  # reference (annotations) | rules (no dev reference fits the anchors)
    prompt: str = ""  # the user turn of a prompt of the example's window (empty in files built before it)

    def as_prompt(self) -> str:
        return f"Example for another window ({self.window}):\n{self.output}"


@lru_cache(maxsize=1)
def worked_examples() -> dict[str, dict[str, WorkedExample]]:
    """Family name → domain → its worked example (empty when the file is absent)."""
    if not EXAMPLES_FILE.is_file():
        return {}
    data = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return {
        name: {
            domain: WorkedExample(family=name, domain=domain, **fields)
            for domain, fields in sorted(by.items())
        }
        for name, by in sorted(data.items())
    }


def worked_example(family: str, domain: str) -> WorkedExample | None:
    """The family's example for this domain, else its first one (another domain's beats none)."""
    by_domain = worked_examples().get(family, {})
    return by_domain.get(domain) or next(iter(by_domain.values()), None)
