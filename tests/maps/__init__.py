"""Tests of gesam_engine.maps."""
