"""The OSC server's UDP socket: open and bind it, resolve the feedback address (refusing this
server's own), and read the kernel's drop counter. No OSC here."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import Any

from gesam_engine.errors import GesamError

RECV_BUFFER = 4 * 2**20  # a flood of small datagrams waits here, not in the kernel's drop counter


class OscServerError(GesamError):
    """The OSC server cannot start: port in use, address not available, bad feedback address."""


def open_udp(host: str, port: int) -> socket.socket:
    """A UDP socket bound to (host, port), non-blocking, with a large receive buffer; OscServerError if not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        raise OscServerError(f"cannot listen for OSC on {host}:{port}: {exc}") from None
    family, _, _, _, where = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        grow_receive_buffer(sock)
        sock.bind(where)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OscServerError(f"OSC port {port} on {host} is already in use (another gesam or OSC "
                                 "program?); pass --osc-port N (0 picks a free one) or --no-osc") from None
        raise OscServerError(f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)  # the receive loop polls, then drains
    return sock


def feedback_address(sock: socket.socket, host: str, port: int) -> Any:
    """The socket address replies go to for ``--feedback host:port``; OscServerError when it cannot
    be resolved or is this socket's own address (every reply would come back to it)."""
    try:
        dest = socket.getaddrinfo(host, int(port), family=sock.family, type=socket.SOCK_DGRAM)[0][4]
    except (socket.gaierror, UnicodeError, OverflowError, ValueError) as exc:
        raise OscServerError(f"feedback address {host}:{port} cannot be used: {exc}") from None
    if is_own_address(sock, dest):
        bound = sock.getsockname()
        raise OscServerError(f"feedback address {host}:{port} is this OSC server's own port ({bound[0]}:{bound[1]}): "
                             "every reply would come back to it; point --feedback at the program that shows "
                             "gesam's state (e.g. 127.0.0.1:9001), or leave it out to answer each sender")
    return dest


def is_own_address(sock: socket.socket, dest: Any) -> bool:
    """Whether a datagram sent to ``dest`` would arrive on ``sock`` (same port, and the same address,
    or any address of this machine when ``sock`` is bound to all of them)."""
    bound_ip, bound_port = sock.getsockname()[:2]
    ip, port = dest[:2]
    if int(port) != int(bound_port):
        return False
    mine, theirs = _plain(bound_ip), _plain(ip)
    if mine == theirs:
        return True
    return mine.is_unspecified and _is_local(theirs)


def _plain(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(ip.partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` belongs to this machine: the kernel lets a socket bind to it."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(ip), 0))
    except OSError:
        return False
    return True


def grow_receive_buffer(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < RECV_BUFFER and hasattr(socket, "SO_RCVBUFFORCE"):
        try:  # above net.core.rmem_max: allowed with CAP_NET_ADMIN only
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, RECV_BUFFER)
        except OSError:
            pass


def kernel_drops(sock: socket.socket | None) -> int | None:
    """Datagrams the kernel dropped on this socket (its receive buffer was full); None if unknown."""
    if sock is None:
        return None
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == inode:
                        return int(fields[12])
    except (OSError, ValueError):
        return None
    return None
