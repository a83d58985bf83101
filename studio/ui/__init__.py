"""The window: thin Qt widgets that observe the engine through one bridge and send it commands.

Only this package imports Qt. The engine's events reach widgets solely through the queued signals of
`studio.ui.bridge.EngineBridge`, so nothing here ever runs on the inference thread.
"""
