"""The archive writer without Kafka: every message once, results once per key, all-or-nothing."""

from __future__ import annotations

import os
import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.json as pa_json
import pytest
from sample_run import Message, consumed_batches, make_sample_run, without_end

import archive.writer as writer_module
from archive.tables import record_tables
from archive.writer import ArchiveWriter, ConsumedBatch, peek_state
from fraudlab import codec
from fraudlab.errors import FraudlabError
from fraudlab.malformed import malformed_value
from fraudlab.records import RESULT_RECORDS, Record, Score
from fraudlab.schemas import arrow_from_wire, arrow_wire_schema, table_name
from fraudlab.topics import topic_name

RUN = make_sample_run("writer-run", transactions=120)


def archive(tmp: Path, messages: list[Message], chunk: int | None = None) -> ArchiveWriter:
    writer = ArchiveWriter.open(tmp, RUN.run_id)
    for batch in consumed_batches(RUN.run_id, messages, chunk=chunk):
        writer.write(batch)
    return writer


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [s.name for s in record_tables()] + ["undecodable", "offsets", "stream_counts"]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}
    finally:
        con.close()


def test_each_message_is_a_row_and_each_result_key_is_one_row(tmp_path: Path) -> None:
    writer = archive(tmp_path, RUN.messages)
    writer.close_run("complete", final=True)
    con = duckdb.connect(str(writer.path), read_only=True)
    counts = {
        s: (m, st, d, u)
        for s, _, m, st, d, u in con.execute("SELECT * FROM stream_counts").fetchall()
    }
    for stream, sent in RUN.sent().items():
        messages, stored, duplicates, undecodable = counts[stream]
        assert messages == sent
        assert messages == stored + duplicates + undecodable
        assert duplicates == RUN.duplicates[stream], stream
        assert undecodable == RUN.undecodable[stream], stream
        table = stream.replace("-", "_")
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (stored,)
        dup_positions = con.execute(
            f"SELECT count(*) FROM (SELECT kafka_partition, kafka_offset FROM {table} "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert dup_positions == (0,)
    for cls in RESULT_RECORDS:
        repeated = con.execute(
            f"SELECT count(*) FROM (SELECT {', '.join(cls.KEY)} FROM {table_name(cls)} "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert repeated == (0,), cls.STREAM
    # the simulator's own duplicates stay separate records
    assert con.execute(
        "SELECT count(*) - count(DISTINCT transaction_id) FROM transactions"
    ).fetchone() == (3,)
    reasons = con.execute("SELECT source_topic, reason FROM undecodable").fetchall()
    assert len(reasons) == sum(RUN.undecodable.values())
    assert all(reason for _, reason in reasons)
    con.close()


def test_how_messages_are_cut_into_batches_does_not_change_the_archive(tmp_path: Path) -> None:
    whole = archive(tmp_path / "whole", RUN.messages)
    whole_digest = whole.close_run("complete", final=True)
    pieces = archive(tmp_path / "pieces", RUN.messages, chunk=97)
    pieces_digest = pieces.close_run("complete", final=True)
    assert whole_digest == pieces_digest
    assert table_rows(whole.path) == table_rows(pieces.path)


def test_the_first_emission_of_a_result_in_log_order_is_kept(tmp_path: Path) -> None:
    first = Score("t1", "s1", "c1", 10, 0.9, 1, "m", "d", 10.0, -6.2, 106.8, "[]")
    again = Score(
        "t1", "s1", "c1", 10, 0.8, 1, "m", "d", 10.0, -6.2, 106.8, "[]"
    )  # a re-emission that differs
    messages = [
        Message("scores", b"t1", codec.encode(first)),
        Message("scores", b"t1", codec.encode(again)),
    ]
    writer = ArchiveWriter.open(tmp_path, RUN.run_id)
    for batch in consumed_batches(RUN.run_id, messages, chunk=1):
        writer.write(batch)
    writer.close_run("partial", final=False)
    con = duckdb.connect(str(writer.path), read_only=True)
    assert con.execute("SELECT probability, kafka_offset FROM scores").fetchall() == [(0.9, 0)]
    assert con.execute("SELECT duplicates FROM stream_counts").fetchall() == [(1,)]
    con.close()


def test_a_failed_write_leaves_neither_rows_nor_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = archive(tmp_path, RUN.messages[:200])
    before = writer.stored_offsets()
    calls = {"n": 0}
    original = ArchiveWriter._insert

    def fail_on_the_third_topic(self: ArchiveWriter, messages: object, rows: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise duckdb.IOException("IO Error: Could not write file: No space left on device")
        return original(self, messages, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(ArchiveWriter, "_insert", fail_on_the_third_topic)
    (batch,) = consumed_batches(RUN.run_id, RUN.messages)
    with pytest.raises(
        FraudlabError, match=r"cannot write the archive of run writer-run .*: the disk is full"
    ):
        writer.write(batch)
    monkeypatch.undo()
    assert writer.stored_offsets() == before
    assert writer.stored_messages() == 200
    writer.close()


def _not_utf8(message: Message) -> Message:
    broken = malformed_value("invalid_utf8", message.value, random.Random(0))
    return Message(message.stream, message.key, broken)


def test_a_value_that_is_not_utf8_is_kept_raw_and_the_rest_of_its_batch_stored(
    tmp_path: Path,
) -> None:
    inputs = [m for m in RUN.messages if m.stream in ("browsing", "transactions")][:400]
    broken = {17: _not_utf8(inputs[17]), 301: _not_utf8(inputs[301])}
    messages = [broken.get(i, m) for i, m in enumerate(inputs)]
    writer = archive(tmp_path, messages)
    writer.close_run("partial", final=False)
    con = duckdb.connect(str(writer.path), read_only=True)
    kept = con.execute(
        "SELECT raw, reason, source_topic FROM undecodable ORDER BY source_topic, raw"
    ).fetchall()
    expected = sorted((m.value, topic_name(RUN.run_id, m.stream)) for m in broken.values())
    assert sorted((raw, topic) for raw, _, topic in kept) == expected
    assert all(reason.startswith("not valid UTF-8: ") for _, reason, _ in kept)
    for stream in ("browsing", "transactions"):
        sent = sum(m.stream == stream for m in messages)
        bad = sum(m.stream == stream for m in broken.values())
        assert con.execute(
            "SELECT messages, stored, undecodable FROM stream_counts WHERE stream = ?", [stream]
        ).fetchall() == [(sent, sent - bad, bad)]
        assert con.execute(f"SELECT count(*) FROM {stream}").fetchall() == [(sent - bad,)]
    con.close()


def test_a_failed_insert_raises_its_own_error_not_the_clean_up_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement's error, not the "transaction is aborted" of what runs after it."""
    writer = ArchiveWriter.open(tmp_path, RUN.run_id)
    truth = [m for m in RUN.messages if m.stream == "truth"][:20]

    def unchecked(
        cls: type[Record], values: list[bytes]
    ) -> tuple[pa.Table, list[int], list[object]]:
        # rows as Arrow's JSON reader makes them when nothing checks the bytes are UTF-8
        table = pa_json.read_json(
            pa.BufferReader(b"\n".join(values)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=arrow_wire_schema(cls), unexpected_field_behavior="ignore"
            ),
        )
        return arrow_from_wire(cls, table)[0], list(range(len(values))), []

    monkeypatch.setattr(writer_module, "decode_values", unchecked)
    (batch,) = consumed_batches(RUN.run_id, [*truth[:10], _not_utf8(truth[10])])
    with pytest.raises(FraudlabError, match="failed: Invalid Input Error: Invalid unicode") as err:
        writer.write(batch)
    assert "aborted" not in str(err.value)
    monkeypatch.undo()
    # the failed write left nothing behind: the same messages, decoded, go in whole
    assert writer.stored_offsets() == {}
    writer.write(consumed_batches(RUN.run_id, truth)[0])
    assert writer.stored_messages() == len(truth)
    writer.close()


def test_a_reopened_archive_resumes_where_it_stood_and_closes_read_only(tmp_path: Path) -> None:
    first, _ = without_end(RUN)
    half = len(first) // 2
    writer = archive(tmp_path, first[:half])
    writer.close_run("partial", final=False)
    assert peek_state(writer.path, RUN.run_id).status == "partial"  # type: ignore[union-attr]
    writer = ArchiveWriter.open(tmp_path, RUN.run_id)
    assert writer.state().status == "running"
    assert writer.stored_messages() == half
    # the rest, as a consumer positioned at the stored offsets would hand it over
    (batch,) = consumed_batches(RUN.run_id, RUN.messages)
    rest = _after(batch, writer.stored_offsets())
    writer.write(rest)
    assert writer.run_info.over(("producer", "engine"))
    digest = writer.close_run("complete", final=True)
    state = peek_state(writer.path, RUN.run_id)
    assert state is not None and (state.status, state.final, state.digest) == (
        "complete",
        True,
        digest,
    )
    assert not os.stat(writer.path).st_mode & 0o222
    reference = archive(tmp_path / "reference", RUN.messages)
    assert reference.close_run("complete", final=True) == digest


def _after(batch: ConsumedBatch, stored: dict[tuple[str, int], int]) -> ConsumedBatch:
    rest = ConsumedBatch()
    for m in batch.topics.values():
        for partition, offset, value, ts in zip(
            m.partitions, m.offsets, m.values, m.timestamps_ms, strict=True
        ):
            if offset >= stored.get((m.topic, partition), 0):
                rest.add(m.topic, m.stream, partition, [_Msg(offset, value, ts)])
    return rest


class _Msg:
    def __init__(self, offset: int, value: bytes | None, timestamp: int) -> None:
        self.offset, self.value, self.timestamp = offset, value, timestamp


def test_the_run_row_holds_what_the_run_events_say(tmp_path: Path) -> None:
    writer = archive(tmp_path, RUN.messages)
    writer.close_run("complete", final=True)
    con = duckdb.connect(str(writer.path), read_only=True)
    row = con.execute(
        "SELECT run_id, scenario, seed, model_name, model_digest, code_version, "
        "status, final, started_at, ended_at FROM run"
    ).fetchone()
    assert row == (
        "writer-run",
        "baseline",
        7,
        "gbt-1",
        "abc123",
        "0.1.0",
        "complete",
        True,
        1_700_000_000,
        1_700_000_000 + 2 * 120 + 7,
    )
    con.close()


def test_a_file_of_another_run_is_refused(tmp_path: Path) -> None:
    archive(tmp_path, RUN.messages[:10]).close()
    os.rename(tmp_path / "writer-run.duckdb", tmp_path / "other-run.duckdb")
    with pytest.raises(FraudlabError, match="holds run writer-run, not run other-run"):
        ArchiveWriter.open(tmp_path, "other-run")


def test_topic_names_in_offsets_are_the_run_topics(tmp_path: Path) -> None:
    writer = archive(tmp_path, RUN.messages)
    topics = {t for t, _ in writer.stored_offsets()}
    assert topics == {topic_name(RUN.run_id, s) for s in RUN.sent()}
    writer.close()
