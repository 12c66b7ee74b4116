"""The Gemini API door's conversions: its request to the canonical one, the canonical answer and stream back."""
