"""Plain data shared by every layer: requests, events, metadata, paths. No Qt, no torch."""
