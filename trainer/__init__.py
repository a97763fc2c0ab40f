"""The learning loop: feedback and candidate groups → preference pairs / GRPO prompts → LoRA training (TRL)
→ gate → versioned, hash-verified weights in the model store → hot reload into the synthesis backend."""
