"""The synthetic multimodal world (DESIGN §3): scenes, renders, native-format writers."""
