"""Test helpers: real file writers and real loopback servers of the project's own."""
