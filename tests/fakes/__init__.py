"""In-process fakes of the remote APIs the bundle talks to, for tests (no sockets)."""
