"""UDP ingest: each datagram carries one raw Ethernet frame. Datagrams are received a
batch at a time with recvmmsg(2) (through ctypes) straight into a preallocated slot, then
classified as one batch. No grpc here."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import socket
import struct
import time

import numpy as np
from rookery_common.background import BackgroundLoop

from packet_service.engine import PacketEngine
from packet_service.parser import LINK_ETHERNET
from packet_service.slot_pool import SlotPool

log = logging.getLogger("packet_service.udp")
MSG_WAITFORONE = 0x10000
MSG_DONTWAIT = 0x40
SO_RCVBUFFORCE = 33  # like SO_RCVBUF but may exceed net.core.rmem_max (CAP_NET_ADMIN)
RECEIVE_BUFFER = 16 << 20
MAX_DATAGRAM = 2048  # one Ethernet frame (1518 + tags) per datagram; longer ones are cut


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [
    ctypes.c_int,
    ctypes.POINTER(MMsgHdr),
    ctypes.c_uint,
    ctypes.c_int,
    ctypes.c_void_p,
]
_recvmmsg.restype = ctypes.c_int


class BatchReceiver:
    """recvmmsg into one slot: datagram i lands at i * MAX_DATAGRAM of the slot's blob."""

    def __init__(self, sock: socket.socket, batch: int) -> None:
        self.sock = sock
        self.batch = batch
        self.pool = SlotPool(slots=1, slot_bytes=batch * MAX_DATAGRAM, max_packets=batch)
        self.slot = self.pool.acquire()
        base = self.slot.data.ctypes.data
        self._iov = (IoVec * batch)()
        self._msgs = (MMsgHdr * batch)()
        for i in range(batch):
            self._iov[i].iov_base = base + i * MAX_DATAGRAM
            self._iov[i].iov_len = MAX_DATAGRAM
            self._msgs[i].msg_hdr.msg_iov = ctypes.pointer(self._iov[i])
            self._msgs[i].msg_hdr.msg_iovlen = 1
        # msg_len of every entry, read as one strided numpy column (no per-datagram work).
        self._lengths = np.ndarray(
            (batch,),
            dtype=np.uint32,
            buffer=self._msgs,
            offset=MMsgHdr.msg_len.offset,
            strides=(ctypes.sizeof(MMsgHdr),),
        )
        self.slot.offsets[:, 0] = np.arange(batch, dtype=np.uint32) * MAX_DATAGRAM

    def receive(self) -> int:
        """Blocks until at least one datagram (or the socket timeout), then keeps taking
        whatever is already queued, without waiting, until the slot is full: under load a
        batch is full-sized instead of a few datagrams. Returns the count."""
        got = self._call(0, MSG_WAITFORONE)
        while 0 < got < self.batch:
            more = self._call(got, MSG_DONTWAIT)
            if more <= 0:
                break
            got += more
        if got > 0:
            self.slot.offsets[:got, 1] = self._lengths[:got]
        return max(got, 0)

    def _call(self, first: int, flags: int) -> int:
        entries = ctypes.cast(
            ctypes.byref(self._msgs, first * ctypes.sizeof(MMsgHdr)), ctypes.POINTER(MMsgHdr)
        )
        got = _recvmmsg(self.sock.fileno(), entries, self.batch - first, flags, None)
        if got < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return 0
            raise OSError(err, f"recvmmsg: {errno.errorcode.get(err, err)}")
        return got


class UdpIngest(BackgroundLoop):
    def __init__(self, engine: PacketEngine, host: str, port: int, batch: int = 256) -> None:
        self.engine = engine
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:  # a deep kernel queue absorbs bursts while a batch is being classified
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind((host, port))
        # A kernel receive timeout (the fd stays blocking: Python's settimeout would make it
        # non-blocking and turn recvmmsg into a busy loop) lets the loop notice stop().
        self.sock.setblocking(True)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200_000))
        self.port = self.sock.getsockname()[1]
        self.receiver = BatchReceiver(self.sock, batch)
        self.datagrams = 0
        super().__init__("udp-ingest", log=log)

    def close(self) -> None:
        self.sock.close()

    def step(self) -> None:
        # An OSError here is logged by the loop, which pauses briefly and goes on.
        got = self.receiver.receive()
        if not got:
            return
        slot = self.receiver.slot
        self.datagrams += got
        slot.timestamps[:got] = time.time()
        self.engine.process(slot.data, slot.offsets[:got], slot.timestamps[:got], LINK_ETHERNET)
