"""The Qt window: thin widgets that observe state and send commands."""
