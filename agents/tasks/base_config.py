"""Settings shared by every task family: prompt size and output parsing limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PromptConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_prompt_anchors: int = Field(
        default=28,
        gt=0,
        description="Most anchors listed in a prompt; the family's relevant types are kept first, the rest "
        "are counted as omitted (keeps prompts and completions inside a 4k-token context).",
    )
    max_prompt_key_frames: int = Field(
        default=24, gt=0, description="Most key-frame indices listed in a prompt (the earliest ones)."
    )
    max_content_chars: int = Field(
        default=80, gt=8, description="Anchor content is cut to this many characters in prompts."
    )
    max_intent_chars: int = Field(
        default=400, gt=0, description="The user's intent text is cut to this length."
    )
    include_worked_example: bool = Field(
        default=False,
        description="Show the family's worked example (a dev-split reference, agents/tasks/worked_examples.json) in "
        "the prompt; kept in the server's prefix cache (the same for every window of a family and domain). Off "
        "since 7 Dec: base SmolLM2-135M copied the example's recording into other windows' answers (the GNOME "
        "'Displays' window in Big Buck Bunny questions); the rule draft (include_rule_draft) scored higher.",
    )
    worked_example_turns: bool = Field(
        default=False,
        description="Show the worked example as a previous exchange (its window's prompt as a user turn, its "
        "output as the assistant's reply) rather than as a window summary in the system turn; costs 220-870 "
        "more prompt tokens, all in the cached prefix. Off: with base SmolLM2-135M through vLLM it lowered "
        "S_accepted on dev from 0.468 to 0.383 and on heldout from 0.615 to 0.480 (next_subtask looped).",
    )
    include_rule_draft: bool = Field(
        default=True,
        description="Append the rule baseline's JSON as a draft the model may improve (costs prompt tokens). "
        "Measured 7 Dec with base SmolLM2-135M through vLLM, against the worked example: dev S_accepted 0.455 "
        "-> 0.588 (56 cases; chosen there), heldout 0.580 -> 0.671 (25 cases, paired 95 % CI -0.086..+0.272): "
        "it fixes the cases where the model copied the worked example of another recording, and lowers robot "
        "temporal_qa (0.89 -> 0.79, the rules' own answers).",
    )
    max_output_chars: int = Field(
        default=100_000, gt=0, description="Longer model outputs are rejected as output_too_large."
    )
    max_output_depth: int = Field(default=16, gt=0, description="Deeper JSON is rejected as json_too_deep.")
