"""OSC and MIDI control of the gesam engine (the address space is in docs/design.md).

Thin by design: pure functions turn messages into typed engine commands; this package never
imports torch. It is filled in by the control issue; for now it only reserves the name.
"""
