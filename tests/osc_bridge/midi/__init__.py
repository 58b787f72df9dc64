"""Tests of osc_bridge.midi: the mapping, the mailbox and the MIDI input."""
