"""Bottom-up video experts: bounded decoding into luma analysis frames, then cheap deterministic experts.

`decode.VideoDecoder` -> `window.VideoWindow` -> `pipeline.VideoExpertPipeline` (scene cuts, key frames,
motion, stalls, optional OCR) -> anchors plus encoded key frames for the frame store.
"""
