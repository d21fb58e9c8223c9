"""Textual widgets of the desk, one per module. They know exchange's data types, never aiohttp."""
