"""OSC over UDP: ``parse`` (datagrams -> typed commands, pure), ``scheduler`` (what runs when:
time tags, coalesced moves, the render queue; pure), ``server`` (the socket and its threads),
``replies`` and ``reply_policy`` (where answers go, and how much), ``udp_socket`` (bind, feedback)."""
