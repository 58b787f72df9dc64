"""Tests of osc_bridge.osc: the parser, the scheduler and the UDP server."""
