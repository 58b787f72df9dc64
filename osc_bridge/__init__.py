"""The control surfaces of the gesam engine: the console, OSC, MIDI and the web map.

Each parses its input into the typed commands of ``osc_bridge.commands``; one
``osc_bridge.controller.Controller`` carries them out on the engine, typed as
``osc_bridge.engine_like.EngineLike``. Thin by design: this package never imports torch or
``gesam_engine.runtime`` (the address space is in docs/design.md).

Where things are:

- ``console.py``: the console's commands (the terminal side is ``gesam_engine/cli/console_session.py``).
- ``osc/``: ``parse`` (datagrams -> commands), ``scheduler`` (time tags, coalesced moves, the
  render queue), ``server`` (the UDP socket and its threads), ``replies``, ``reply_policy``, ``udp_socket``.
- ``midi/``: ``map`` (messages -> commands, the ``[midi]`` mapping), ``mailbox`` (coalescing
  queue), ``input`` (ports, backend, worker).
- ``webmap/``: ``app`` (the requests without HTTP), ``server`` (``WebMap``), ``handler``,
  ``http_pool``; ``web/`` holds the page's files.
- ``addresses.py`` (the OSC address table), ``commands.py``, ``controller.py``, ``engine_like.py``.
"""
