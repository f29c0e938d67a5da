"""Responses API state: what detour answered, kept so ``previous_response_id`` works at any provider."""
