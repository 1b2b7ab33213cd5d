"""Bounded flow table, updated a whole batch at a time.

Flows are keyed by (family, vlan, src, dst, sport, dport, proto) packed into five uint64
words. Entries live in parallel numpy columns (struct of arrays, compacted: rows
0..count-1 are live) and an open-addressing index (int32, linear probing, load <= 0.5)
maps a key hash to its row. A batch is first reduced to its distinct flows (one sort of
the 64-bit hashes), then all of them probe the index together, one probe step per loop
turn. Nothing is allocated per packet or per flow as a Python object.

Memory per flow: 5*8 key + 8 hash + 8 packets + 8 bytes + 8 first_seen + 8 last_seen
+ 1 TCP flags = 81 bytes of columns, plus two int32 index slots = 8 bytes: 89 bytes at a
full table (``bytes_per_flow`` reports the figure for the current capacity).
No grpc here.
"""

from __future__ import annotations

import base64
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KEY_WORDS = 5
_EMPTY = -1
_MIX = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0xD6E8FEB86659FD93),
    np.uint64(0xFF51AFD7ED558CCD),
)
_FINAL = np.uint64(0xC4CEB9FE1A85EC53)
_ONE = np.uint64(1)


@dataclass(slots=True)
class FlowRecord:
    """One flow, decoded for reports (built only for the few flows a report shows)."""

    vlan: int | None
    src: str
    dst: str
    src_port: int
    dst_port: int
    protocol: int
    packets: int
    bytes: int
    first_seen: float
    last_seen: float
    tcp_flags: int


@dataclass(slots=True)
class FlowPosition:
    """A place in a top-flows ordering: the value and key hash of the last flow shown."""

    value: int
    hash: int


_TOKEN = struct.Struct("<BBQQ")  # format version, order, value, hash
_TOKEN_VERSION = 1
_ORDERS = ("packets", "bytes")


def position_token(position: FlowPosition, order_by: str) -> str:
    """An opaque page token for `position` in the `order_by` ordering."""
    raw = _TOKEN.pack(_TOKEN_VERSION, _ORDERS.index(order_by), position.value, position.hash)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def position_from_token(token: str, order_by: str) -> FlowPosition:
    """The position a page token names; ValueError when it is not one this service
    issued for the `order_by` ordering."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, order, value, hashed = _TOKEN.unpack(raw)
    except (ValueError, struct.error):
        raise ValueError("not a page token of this service") from None
    if version != _TOKEN_VERSION or order >= len(_ORDERS):
        raise ValueError("not a page token of this service")
    if _ORDERS[order] != order_by:
        raise ValueError(f"was issued for order by {_ORDERS[order]}, not {order_by}")
    return FlowPosition(value, hashed)


_FAMILY_SHIFT = np.int64(56)


def pack_key_columns(
    family: np.ndarray,
    vlan: np.ndarray,
    src_hi: np.ndarray,
    src_lo: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    ports: np.ndarray,
    protocol: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(5, n) uint64 key columns (into `out` when given), one contiguous row per word.
    `ports` is src port << 16 | dst port (0 without ports), `vlan` -1 untagged (stored as
    id + 1), `protocol` >= 0 on IP rows. Rows that are not IP get keys no IP flow has
    (their family byte is not 4 or 6) and are not meant to be counted."""
    n = family.shape[0]
    cols = np.empty((KEY_WORDS, n), dtype=np.uint64) if out is None else out
    cols[0] = src_hi
    cols[1] = src_lo
    cols[2] = dst_hi
    cols[3] = dst_lo
    # The meta word: family << 56 | (vlan + 1) << 40 | src port << 24 | dst port << 8 |
    # protocol, built in int64 (every IP row's parts are non-negative and the family,
    # <= 6, keeps the top bit clear) and stored as the same bits in uint64.
    meta = np.left_shift(family, _FAMILY_SHIFT, dtype=np.int64)
    meta |= (vlan + 1) << 40
    meta |= ports << 8
    np.bitwise_or(meta, protocol, out=cols[4].view(np.int64))
    return cols


def pack_keys(
    family: np.ndarray,
    vlan: np.ndarray,
    src_hi: np.ndarray,
    src_lo: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    src_port: np.ndarray,
    dst_port: np.ndarray,
    protocol: np.ndarray,
) -> np.ndarray:
    """(n, 5) uint64 keys from separate port columns (absent ports, -1, are stored as 0)."""
    ports = (np.maximum(src_port, 0).astype(np.int64) << 16) | np.maximum(dst_port, 0)
    cols = pack_key_columns(
        family.astype(np.uint8),
        np.asarray(vlan, dtype=np.int64),
        src_hi,
        src_lo,
        dst_hi,
        dst_lo,
        ports,
        np.maximum(protocol, 0).astype(np.int64),
    )
    return np.ascontiguousarray(cols.T)


def key_columns(keys: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """The five key words as 1-D arrays: of an (n, 5) array, or a sequence of columns."""
    if isinstance(keys, np.ndarray):
        return [keys[:, word] for word in range(KEY_WORDS)]
    return list(keys)


def _keys_equal(
    table_keys: np.ndarray,
    table_rows: np.ndarray,
    cols: Sequence[np.ndarray],
    key_rows: np.ndarray | None,
) -> np.ndarray:
    """Row-wise equality of table_keys[table_rows] and the key columns at key_rows (all
    of them when key_rows is None), a word at a time (an (n, 5) gather and .all(1) costs
    several times more)."""
    equal = None
    for word in range(KEY_WORDS):
        theirs = cols[word] if key_rows is None else cols[word][key_rows]
        same = table_keys[:, word][table_rows] == theirs
        equal = same if equal is None else equal & same
    return equal


def hash_keys(cols: Sequence[np.ndarray]) -> np.ndarray:
    h = cols[0] * _MIX[0]
    for word in range(1, KEY_WORDS):
        h ^= cols[word] * _MIX[word]
    h ^= h >> np.uint64(33)
    h *= _FINAL
    h ^= h >> np.uint64(29)
    return h


def _missing(rows: np.ndarray, skipped: np.ndarray | None) -> np.ndarray:
    """Positions of the keys the lookup did not find, leaving out the skipped rows."""
    absent = rows < 0
    if skipped is not None:
        absent &= ~skipped
    return np.flatnonzero(absent)


def _index_size(capacity: int) -> int:
    size = 1
    while size < 2 * capacity:
        size <<= 1
    return size


class FlowTable:
    """Not thread-safe: the engine serialises updates and reads with its lock."""

    def __init__(
        self, max_flows: int = 1_000_000, idle_timeout: float = 300.0, initial_capacity: int = 65536
    ) -> None:
        if max_flows < 1:
            raise ValueError("max_flows must be at least 1")
        self.max_flows = max_flows
        self.idle_timeout = idle_timeout
        self.count = 0
        self.evicted_total = 0
        # Traffic time (not the wall clock) that idleness is measured against: it follows
        # the bulk of each batch's timestamps, never a single outlier (see _advance_clock).
        self.clock = 0.0
        self._clock_set = False
        self._jump: float | None = None  # a far jump of the clock, awaiting confirmation
        # The newest timestamp of any earlier update: every flow's first_seen is at most
        # this, so a batch entirely newer cannot move any first_seen back.
        self._newest = -np.inf
        self._last_sweep = 0.0
        self._allocate(min(max(initial_capacity, 16), max_flows))

    # ---------------------------------------------------------------- storage

    def _allocate(self, capacity: int) -> None:
        self.capacity = capacity
        # One row more than the capacity: row `capacity` is a sink that absorbs the
        # updates of rows that are not counted (frames that are not IP), so a batch
        # needs no compaction first. It is never indexed, reported or evicted.
        rows = capacity + 1
        self.keys = np.zeros((rows, KEY_WORDS), dtype=np.uint64)
        self.hashes = np.zeros(rows, dtype=np.uint64)
        self.packets = np.zeros(rows, dtype=np.uint64)
        self.bytes = np.zeros(rows, dtype=np.uint64)
        self.first_seen = np.zeros(rows, dtype=np.float64)
        self.last_seen = np.zeros(rows, dtype=np.float64)
        self.tcp_flags = np.zeros(rows, dtype=np.uint8)
        self.index = np.full(_index_size(capacity), _EMPTY, dtype=np.int32)

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (
            self.keys,
            self.hashes,
            self.packets,
            self.bytes,
            self.first_seen,
            self.last_seen,
            self.tcp_flags,
        )

    def nbytes(self) -> int:
        return sum(column.nbytes for column in self._columns()) + self.index.nbytes

    def bytes_per_flow(self) -> float:
        return self.nbytes() / self.capacity

    def _grow(self, needed: int) -> None:
        capacity = self.capacity
        while capacity < needed:
            capacity *= 2
        capacity = min(capacity, self.max_flows)
        old = [column[: self.count].copy() for column in self._columns()]
        self._allocate(capacity)
        for column, saved in zip(self._columns(), old, strict=True):
            column[: self.count] = saved
        self._rebuild_index()

    def _rebuild_index(self) -> None:
        self.index.fill(_EMPTY)
        mask = self.index.shape[0] - 1
        rows = np.arange(self.count, dtype=np.int64)
        slots = (self.hashes[: self.count] & np.uint64(mask)).astype(np.int64)
        while rows.size:
            free = self.index[slots] == _EMPTY
            winners_at, first = np.unique(slots[free], return_index=True)
            self.index[winners_at] = rows[free][first]
            placed = np.zeros(rows.size, dtype=bool)
            placed[np.flatnonzero(free)[first]] = True
            rows, slots = rows[~placed], (slots[~placed] + 1) & mask

    def _evict(self, remove: np.ndarray) -> None:
        keep = ~remove
        kept = int(np.count_nonzero(keep))
        for column in self._columns():
            column[:kept] = column[: self.count][keep]
        self.evicted_total += self.count - kept
        self.count = kept
        self._rebuild_index()

    def sweep_idle(self) -> int:
        """Evict flows idle for longer than idle_timeout (traffic time); returns how many."""
        before = self.count
        if self.count:
            idle = self.last_seen[: self.count] < self.clock - self.idle_timeout
            if idle.any():
                self._evict(idle)
        self._last_sweep = self.clock
        return before - self.count

    def _make_room(self, incoming: int) -> None:
        needed = self.count + incoming
        if needed <= self.capacity:
            return
        if self.capacity < self.max_flows:
            self._grow(needed)
            if needed <= self.capacity:
                return
        self.sweep_idle()
        overflow = self.count + incoming - self.capacity
        if overflow > 0:
            # Still full: evict the least recently seen flows, a slice at a time so the
            # table does not rebuild its index on every batch.
            overflow = min(self.count, max(overflow, self.capacity // 16))
            oldest = np.argpartition(self.last_seen[: self.count], overflow - 1)[:overflow]
            remove = np.zeros(self.count, dtype=bool)
            remove[oldest] = True
            self._evict(remove)

    # ---------------------------------------------------------------- updates

    def update(
        self,
        keys: np.ndarray | Sequence[np.ndarray],
        lengths: np.ndarray,
        times: np.ndarray,
        tcp_flags: np.ndarray,
        counted: np.ndarray | None = None,
    ) -> None:
        """Account one packet per key: `keys` is (n, 5) or five key columns (see
        pack_key_columns). With `counted` (bool or 0/non-zero per row) only those rows
        are accounted; the others must carry keys no flow has (pack_key_columns gives
        rows that are not IP such keys)."""
        cols = key_columns(keys)
        if cols[0].shape[0] == 0:
            return
        self._account(cols, lengths, times, tcp_flags, counted)
        self._newest = max(self._newest, float(times.max()))
        # Only now, with the batch's packets in their flows, is idleness judged, by the
        # batch's own time: sweeping first would cut every flow whose next packet is in
        # this very batch once the batch's time passed its timeout.
        self._advance_clock(times)
        if self.clock - self._last_sweep > max(self.idle_timeout / 4, 1.0):
            self.sweep_idle()

    def _advance_clock(self, times: np.ndarray) -> None:
        """Move the traffic clock to the batch's median time (of a sample: a batch is
        time-ordered in bulk, and the median ignores a few corrupted records). A jump of
        more than the idle timeout (a lone record years ahead, alone in its batch) waits
        until the next batch confirms it, so one bad record cannot sweep the table."""
        sample = times[:: max(1, times.shape[0] // 255)]
        middle = sample.shape[0] // 2
        candidate = float(np.partition(sample, middle)[middle])  # np.median costs 7x
        if not self._clock_set or candidate - self.clock <= self.idle_timeout:
            if candidate > self.clock or not self._clock_set:
                self.clock = candidate
            self._clock_set = True
            self._jump = None
        elif self._jump is not None and abs(candidate - self._jump) <= self.idle_timeout:
            self.clock = min(candidate, self._jump)  # two batches agree: time moved on
            self._jump = None
        else:
            self._jump = candidate

    def _account(
        self,
        cols: list[np.ndarray],
        lengths: np.ndarray,
        times: np.ndarray,
        tcp_flags: np.ndarray,
        counted: np.ndarray | None,
    ) -> None:
        hashes = hash_keys(cols)
        # Fast path: most packets belong to flows already in the table, so look every row
        # up directly and add with ufunc.at; only the (few) missing flows are inserted.
        # A burst of new flows too big for the table takes the grouped path.
        rows = self._lookup(cols, hashes)
        skipped = None if counted is None else counted == 0
        missing = _missing(rows, skipped)
        if missing.size:
            if missing.size > self.max_flows // 2:
                self._update_grouped(cols, hashes, lengths, times, tcp_flags, counted)
                return
            if self.count + missing.size > self.capacity:
                before = self.evicted_total
                self._make_room(missing.size)
                if self.evicted_total != before:  # rows moved: look up again
                    rows = self._lookup(cols, hashes)
                    missing = _missing(rows, skipped)
            # Inserting may grow the table (moving the sink): skipped rows are pointed
            # at it only afterwards.
            rows[missing] = self._insert_missing(
                [col[missing] for col in cols], hashes[missing], times[missing]
            )
        if skipped is not None:
            rows[skipped] = self.capacity  # the sink row
        np.add.at(self.packets, rows, _ONE)
        np.add.at(self.bytes, rows, lengths.astype(np.uint64))
        np.maximum.at(self.last_seen, rows, times)
        # A packet older than its flow's first (out of order, or an earlier capture) moves
        # first_seen back; rare, so only those rows take the slow ufunc.at, and a batch
        # newer than everything before it (time-ordered traffic) skips the check.
        if float(times.min()) < self._newest:
            older = np.flatnonzero(times < self.first_seen[rows])
            if older.size:
                np.minimum.at(self.first_seen, rows[older], times[older])
        # bitwise_or.at has no fast loop; most packets bring flags their flow already has,
        # so only rows adding a new flag bit take it.
        adds = tcp_flags & ~self.tcp_flags[rows]
        fresh = np.flatnonzero(adds)
        if fresh.size:
            np.bitwise_or.at(self.tcp_flags, rows[fresh], adds[fresh])

    def _lookup(self, cols: Sequence[np.ndarray], hashes: np.ndarray) -> np.ndarray:
        """Table row of every key, -1 where absent (linear probing, all rows at once)."""
        mask = self.index.shape[0] - 1
        slots = (hashes & np.uint64(mask)).astype(np.int64)
        # First probe for every key without index bookkeeping: in a table at load <= 0.5
        # most keys sit in their home slot.
        rows = self.index[slots].astype(np.int64)
        # Every row compares its whole key with its home slot's occupant (rows == -1 read
        # the last entry and are masked): cheaper than first narrowing to the hash hits,
        # which costs a gather of every key word on the batch side.
        hit = self.hashes[rows] == hashes
        hit &= rows != _EMPTY
        hit &= _keys_equal(self.keys, rows, cols, None)
        # The rest probe on: keys whose home slot holds another key (empty slot: absent).
        pending = np.flatnonzero(~hit & (rows != _EMPTY))
        rows[~hit] = _EMPTY
        slots[pending] = (slots[pending] + 1) & mask
        while pending.size:
            occupant = self.index[slots[pending]].astype(np.int64)
            present = occupant != _EMPTY
            pending, occupant = pending[present], occupant[present]  # an empty slot: absent
            same = self.hashes[occupant] == hashes[pending]
            if np.count_nonzero(same):
                check = np.flatnonzero(same)
                equal = _keys_equal(self.keys, occupant[check], cols, pending[check])
                same[check[~equal]] = False
            rows[pending[same]] = occupant[same]
            pending = pending[~same]
            slots[pending] = (slots[pending] + 1) & mask
        return rows

    def _insert_missing(
        self, cols: Sequence[np.ndarray], hashes: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        """Insert the keys of `cols` (all absent from the table, repeats allowed);
        returns the row of each key. The caller made room. Repeats need no grouping
        sort: the probe itself sends every repeat to the row its first copy claimed."""
        rows = self._find_or_insert(cols, hashes, times)
        np.minimum.at(self.first_seen, rows, times)  # a repeat may be older than its winner
        return rows

    def _update_grouped(
        self,
        cols: Sequence[np.ndarray],
        hashes: np.ndarray,
        lengths: np.ndarray,
        times: np.ndarray,
        tcp_flags: np.ndarray,
        counted: np.ndarray | None,
    ) -> None:
        if counted is not None:  # rare path: drop the rows that are not counted first
            keep = np.flatnonzero(counted)
            cols = [col[keep] for col in cols]
            hashes, lengths, times = hashes[keep], lengths[keep], times[keep]
            tcp_flags = tcp_flags[keep]
        keys = np.stack(cols, axis=1)
        # Group the batch by flow with one sort: runs of equal hashes are one flow, and
        # reduceat over the runs sums/mins/maxes/ORs them without any per-row Python.
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        starts_mask = np.empty(order.shape[0], dtype=bool)
        starts_mask[0] = True
        np.not_equal(sorted_hashes[1:], sorted_hashes[:-1], out=starts_mask[1:])
        starts = np.flatnonzero(starts_mask)
        sorted_keys = keys[order]
        unique_keys, unique_hashes = sorted_keys[starts], sorted_hashes[starts]
        group_of_sorted = np.cumsum(starts_mask) - 1
        if not np.array_equal(unique_keys[group_of_sorted], sorted_keys):
            # Two different keys share a 64-bit hash inside this batch: group exactly.
            as_rows = np.ascontiguousarray(sorted_keys).view(f"V{8 * KEY_WORDS}").ravel()
            _, inverse = np.unique(as_rows, return_inverse=True)
            regroup = np.argsort(inverse, kind="stable")
            order = order[regroup]
            sorted_keys = keys[order]
            counts = np.bincount(inverse)
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
            unique_keys, unique_hashes = sorted_keys[starts], hashes[order][starts]
        flows = starts.shape[0]
        packets = np.diff(starts, append=order.shape[0]).astype(np.uint64)
        byte_sums = np.add.reduceat(lengths[order], starts).astype(np.uint64)
        sorted_times = times[order]
        oldest = np.minimum.reduceat(sorted_times, starts)
        newest = np.maximum.reduceat(sorted_times, starts)
        flags = np.bitwise_or.reduceat(tcp_flags[order], starts)
        # Chunks no bigger than the table, so making room never evicts the chunk itself.
        step = max(1, self.max_flows // 2)
        for begin in range(0, flows, step):
            part = slice(begin, begin + step)
            rows = self._find_or_insert(
                key_columns(unique_keys[part]), unique_hashes[part], oldest[part]
            )
            self.packets[rows] += packets[part]
            self.bytes[rows] += byte_sums[part]
            self.first_seen[rows] = np.minimum(self.first_seen[rows], oldest[part])
            self.last_seen[rows] = np.maximum(self.last_seen[rows], newest[part])
            self.tcp_flags[rows] |= flags[part]

    def _find_or_insert(
        self, cols: Sequence[np.ndarray], hashes: np.ndarray, first_seen: np.ndarray
    ) -> np.ndarray:
        """Row of every key, inserting the absent ones (repeats of one key get one row).

        All keys probe together, a slot per loop turn. A key that finds its slot taken by
        another key moves to the next slot; several keys reaching the same empty slot
        elect one to claim it and the others stay put, so next turn they meet the winner
        and either match it (a repeat) or move on."""
        count = hashes.shape[0]
        self._make_room(count)
        mask = self.index.shape[0] - 1
        rows = np.full(count, _EMPTY, dtype=np.int64)
        pending = np.arange(count, dtype=np.int64)
        slots = (hashes & np.uint64(mask)).astype(np.int64)
        while pending.size:
            at = slots[pending]
            occupant = self.index[at].astype(np.int64)
            empty = occupant == _EMPTY
            advance = ~empty
            taken = np.flatnonzero(advance)
            if taken.size:
                who, row = pending[taken], occupant[taken]
                same = (self.hashes[row] == hashes[who]) & _keys_equal(self.keys, row, cols, who)
                rows[who[same]] = row[same]
            free = np.flatnonzero(empty)
            if free.size:
                # One claimant per empty slot: all scatter their (negative) ticket into
                # it, the last write wins, and reading back tells who won.
                claimed_at = at[free]
                tickets = -2 - np.arange(free.size, dtype=np.int32)
                self.index[claimed_at] = tickets
                won = self.index[claimed_at] == tickets
                claimed_at = claimed_at[won]
                winners = pending[free[won]]
                new_rows = np.arange(self.count, self.count + winners.size, dtype=np.int64)
                self.count += winners.size
                self.index[claimed_at] = new_rows
                for word in range(KEY_WORDS):
                    self.keys[new_rows, word] = cols[word][winners]
                self.hashes[new_rows] = hashes[winners]
                self.packets[new_rows] = 0
                self.bytes[new_rows] = 0
                self.first_seen[new_rows] = first_seen[winners]
                self.last_seen[new_rows] = first_seen[winners]
                self.tcp_flags[new_rows] = 0
                rows[winners] = new_rows
            unresolved = rows[pending] == _EMPTY
            moving = pending[unresolved & advance]  # losers of an empty slot stay put
            slots[moving] = (slots[moving] + 1) & mask
            pending = pending[unresolved]
        return rows

    # ---------------------------------------------------------------- reports

    def top(self, n: int, order_by: str = "packets") -> list[FlowRecord]:
        return self.page(n, order_by)[0]

    def page(
        self, n: int, order_by: str = "packets", after: FlowPosition | None = None
    ) -> tuple[list[FlowRecord], FlowPosition | None]:
        """The `n` largest flows by `order_by` that come after `after` in the order
        (value descending, then key hash ascending), and the position of the last one
        when more follow (None on the last page). Positions are values, not row numbers:
        rows move when flows are evicted, a flow's value only grows, so a flow already
        shown never comes back on a later page."""
        if self.count == 0 or n <= 0:
            return [], None
        column = (self.bytes if order_by == "bytes" else self.packets)[: self.count]
        hashes = self.hashes[: self.count]
        if after is None:
            rows = np.arange(self.count)
        else:
            value, hashed = np.uint64(after.value), np.uint64(after.hash)
            rows = np.flatnonzero((column < value) | ((column == value) & (hashes > hashed)))
        more = rows.shape[0] > n
        if more:
            values = column[rows]
            threshold = np.partition(values, rows.shape[0] - n)[rows.shape[0] - n]
            above = rows[values > threshold]
            tied = rows[values == threshold]
            tied = tied[np.argsort(hashes[tied], kind="stable")[: n - above.shape[0]]]
            rows = np.concatenate((above, tied))
        order = np.lexsort((hashes[rows], np.iinfo(np.uint64).max - column[rows]))
        rows = rows[order]
        last = int(rows[-1]) if rows.shape[0] else 0
        position = FlowPosition(int(column[last]), int(hashes[last])) if more else None
        return [self.record(int(row)) for row in rows], position

    def record(self, row: int) -> FlowRecord:
        src_hi, src_lo, dst_hi, dst_lo, meta = (int(w) for w in self.keys[row])
        family = meta >> 56
        vlan = ((meta >> 40) & 0xFFFF) - 1
        return FlowRecord(
            vlan=None if vlan < 0 else vlan,
            src=_address_text(family, src_hi, src_lo),
            dst=_address_text(family, dst_hi, dst_lo),
            src_port=(meta >> 24) & 0xFFFF,
            dst_port=(meta >> 8) & 0xFFFF,
            protocol=meta & 0xFF,
            packets=int(self.packets[row]),
            bytes=int(self.bytes[row]),
            first_seen=float(self.first_seen[row]),
            last_seen=float(self.last_seen[row]),
            tcp_flags=int(self.tcp_flags[row]),
        )


def _address_text(family: int, hi: int, lo: int) -> str:
    if family == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))
