"""Test support shared by every test suite: the plugin runtime, collector processes, fakes."""
