"""The Fluxum application: the App, its screens, the command line and the bridge from session events."""
