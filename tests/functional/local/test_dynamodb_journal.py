"""The local moto gateway's durable DynamoDB: every acknowledged write is in ``journal-<N>.log`` before the answer;
a restart replays it (after the snapshot) into an empty moto, compacts, and survives a torn last line."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from truthloop.exceptions import LocalBackendError
from truthloop.local.dynamodb_journal import DurableDynamoDB, RestoreReport
from truthloop.local.s3 import S3Gateway, moto_client, reset_moto
from truthloop.local.storage.dynamodb_schema import create_table
from truthloop.service.local import _Dispatch, _serve

TABLE = "journaled"


class Gateway:
    """moto's DynamoDB behind the real gateway on a loopback port, journaled to ``root`` (what the backends run)."""

    def __init__(self, root: Path, compact_bytes: int = 64 * 1024 * 1024) -> None:
        self.root = root
        self.compact_bytes = compact_bytes
        self.journal: DurableDynamoDB | None = None
        self.servers: list[Any] = []
        self.report = RestoreReport()
        self.url = ""

    def start(self) -> Any:
        reset_moto()
        self.journal = DurableDynamoDB(self.root, compact_bytes=self.compact_bytes)
        gateway = S3Gateway(None, self.journal)
        self.report = self.journal.restore(gateway.apply_dynamodb)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.servers.append(_serve(sock, _Dispatch(gateway, None), "journal-test"))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return moto_client("dynamodb", self.url, "us-east-1")

    def stop(self) -> None:
        for server, thread in self.servers:
            server.should_exit = True
            thread.join(timeout=15)
        self.servers = []
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def restart(self) -> Any:
        self.stop()
        return self.start()

    def journal_files(self) -> list[Path]:
        return sorted(self.root.glob("journal-*.log"))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    running = Gateway(tmp_path / "dynamodb")
    yield running
    running.stop()
    reset_moto()


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": name}, "sk": {"S": "A"}}


def _bump(client: Any, name: str, *, below: int) -> None:
    """A conditional counter update: replayed twice it would count twice."""
    client.update_item(
        TableName=TABLE,
        Key=_key(name),
        UpdateExpression="ADD n :one",
        ConditionExpression="attribute_not_exists(n) OR n < :cap",
        ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(below)}},
    )


def _count(client: Any, name: str) -> int:
    item = client.get_item(TableName=TABLE, Key=_key(name), ConsistentRead=True).get("Item")
    return int(item["n"]["N"]) if item else 0


def _seed(client: Any) -> None:
    create_table(client, TABLE, wait=False)
    for _ in range(3):
        _bump(client, "counter", below=10)
    nested = {"M": {"list": {"L": [{"S": "a"}, {"N": "2"}, {"B": base64.b64encode(b"\x00\x01").decode()}]}}}
    client.put_item(
        TableName=TABLE, Item={**_key("doc"), "nested": nested, "raw": {"B": b"\xff\xfe"}, "tags": {"SS": ["x", "y"]}}
    )


def test_acknowledged_writes_survive_restarts_and_conditional_updates_replay_once(gateway: Gateway) -> None:
    # GIVEN a table, three conditional counter updates, a refused one, and an item with binary and nested values
    client = gateway.start()
    _seed(client)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        _bump(client, "counter", below=3)
    doc = client.get_item(TableName=TABLE, Key=_key("doc"))["Item"]
    # WHEN the gateway restarts (journal replayed, then compacted) and restarts again (snapshot loaded)
    for expected_entries, expected_items in ((6, 0), (0, 2)):
        client = gateway.restart()
        # THEN the table, its TTL, the counter and the item are exactly as acknowledged, never applied twice
        assert (gateway.report.journal_entries, gateway.report.snapshot_items) == (expected_entries, expected_items)
        assert gateway.report.replay_failures == 0 and gateway.report.torn_tail is None
        assert _count(client, "counter") == 3
        assert client.get_item(TableName=TABLE, Key=_key("doc"))["Item"] == doc
        described = client.describe_table(TableName=TABLE)["Table"]
        assert {index["IndexName"] for index in described["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2", "gsi3"}
        ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "purge_at"}
    # AND after compaction only one (empty) journal is left beside the snapshot
    assert [path.stat().st_size for path in gateway.journal_files()] == [0]
    # AND the index answers queries on restored items
    client.put_item(TableName=TABLE, Item={**_key("indexed"), "g1pk": {"S": "K"}, "g1sk": {"S": "1"}})
    client = gateway.restart()
    found = client.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="g1pk = :k",
        ExpressionAttributeValues={":k": {"S": "K"}},
    )["Items"]
    assert [item["pk"]["S"] for item in found] == ["indexed"]


def _cut_last_line(path: Path, how: str) -> None:
    raw = path.read_bytes()
    head, last = raw[:-1].rsplit(b"\n", 1)
    if how == "cut short":  # the process died in the middle of the append
        path.write_bytes(head + b"\n" + last[: len(last) // 2])
    elif how == "zeros":  # the file grew but the block never reached the disk
        path.write_bytes(head + b"\n" + b"\x00" * len(last) + b"\n")
    else:  # a whole line whose bytes changed
        path.write_bytes(head + b"\n" + last.replace(b"late", b"LATE") + b"\n")


@pytest.mark.parametrize("how", ["cut short", "zeros", "checksum"])
def test_a_torn_last_journal_line_is_dropped_and_reported(gateway: Gateway, how: str) -> None:
    # GIVEN acknowledged writes, the last of which the crash tore
    client = gateway.start()
    _seed(client)
    client.put_item(TableName=TABLE, Item=_key("late"))
    gateway.stop()
    (journal,) = gateway.journal_files()
    _cut_last_line(journal, how)
    # WHEN the gateway starts again
    client = gateway.start()
    # THEN it starts, reports the torn line, and has every write but the torn one
    assert gateway.report.torn_tail is not None and gateway.report.torn_tail.startswith(f"{journal.name}:7")
    assert gateway.report.journal_entries == 6
    assert _count(client, "counter") == 3
    assert "Item" not in client.get_item(TableName=TABLE, Key=_key("late"))
    # AND the next start finds nothing torn
    client = gateway.restart()
    assert gateway.report.torn_tail is None and _count(client, "counter") == 3


def test_a_damaged_line_before_good_ones_refuses_to_start_naming_the_line(gateway: Gateway) -> None:
    # GIVEN a journal whose second line is damaged while later lines are intact
    client = gateway.start()
    _seed(client)
    gateway.stop()
    (journal,) = gateway.journal_files()
    lines = journal.read_bytes().split(b"\n")
    lines[1] = lines[1][:20] + b"#" + lines[1][21:]
    journal.write_bytes(b"\n".join(lines))
    # WHEN the gateway starts THEN it refuses with the file and line, instead of silently dropping lines 2..n
    with pytest.raises(LocalBackendError, match=rf"{journal.name}.* line 2 "):
        gateway.start()


def test_a_crash_between_snapshot_and_journal_removal_applies_nothing_twice(gateway: Gateway) -> None:
    # GIVEN a journal with three conditional increments, kept aside as a crash before its deletion would leave it
    client = gateway.start()
    _seed(client)
    gateway.stop()
    (journal,) = gateway.journal_files()
    kept = journal.read_bytes()
    # WHEN the next start compacts, and the old journal is put back as if its removal never happened
    gateway.start()
    journal.write_bytes(kept)
    client = gateway.restart()
    # THEN the snapshot says that journal is already in it: the counter is 3, not 6
    assert gateway.report.journal_entries == 0
    assert _count(client, "counter") == 3


def test_a_refused_write_is_not_journaled(gateway: Gateway) -> None:
    # GIVEN a table and its journal size
    client = gateway.start()
    create_table(client, TABLE, wait=False)
    before = gateway.journal_files()[0].stat().st_size
    # WHEN writes are refused by moto (a failed condition, a missing table)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        client.put_item(TableName=TABLE, Item=_key("x"), ConditionExpression="attribute_exists(pk)")
    with pytest.raises(ClientError, match="ResourceNotFound"):
        client.put_item(TableName="missing", Item=_key("x"))
    # AND reads are served
    client.scan(TableName=TABLE)
    # THEN nothing was appended
    assert gateway.journal_files()[0].stat().st_size == before


def test_after_a_failed_append_every_later_write_is_refused(gateway: Gateway) -> None:
    # GIVEN a journal whose file can no longer be written (what a full or failing disk does to an append)
    client = gateway.start()
    create_table(client, TABLE, wait=False)
    assert gateway.journal is not None and gateway.journal._fd is not None
    os.close(gateway.journal._fd)
    gateway.journal._fd = os.open(os.devnull, os.O_RDONLY)
    client = moto_client("dynamodb", gateway.url, "us-east-1", Config(retries={"max_attempts": 1}))
    # WHEN a write is made, and then another
    # THEN each is answered with an error naming the journal (never acknowledged), reads still work
    for name in ("first", "second"):
        with pytest.raises(ClientError, match="journal") as raised:
            client.put_item(TableName=TABLE, Item=_key(name))
        assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert client.describe_table(TableName=TABLE)["Table"]["TableName"] == TABLE
    # AND the second write never reached moto (refused before it was applied)
    assert "Item" not in client.get_item(TableName=TABLE, Key=_key("second"))


@pytest.mark.parametrize("crash_before_delete", [False, True], ids=["clean", "crash-before-old-journal-deleted"])
def test_a_long_journal_is_compacted_while_running_and_replays_once(tmp_path: Path, crash_before_delete: bool) -> None:
    # GIVEN a gateway that compacts once its journal passes 4 KB
    gateway = Gateway(tmp_path / "dynamodb", compact_bytes=4096)
    try:
        client = gateway.start()
        _seed(client)
        assert gateway.journal is not None
        kept: dict[Path, bytes] = {}
        # WHEN enough conditional counter updates are written to pass the limit several times
        for _ in range(40):
            if crash_before_delete:  # remember every journal, as if the deletes after a compaction never happened
                kept.update({path: path.read_bytes() for path in gateway.journal_files()})
            _bump(client, "counter", below=100)
        # THEN it compacted while running, keeping one journal shorter than the limit next to the snapshot
        assert gateway.journal.online_compactions >= 2 and gateway.journal.compaction_error is None
        assert len(gateway.journal_files()) == 1 and gateway.journal_files()[0].stat().st_size < 4096
        assert (gateway.root / "snapshot.jsonl").is_file()
        for path, data in kept.items():
            if not path.exists():
                path.write_bytes(data)
        # AND after a restart every acknowledged update counts once (journals the snapshot includes are skipped)
        client = gateway.restart()
        assert gateway.report.replay_failures == 0
        assert _count(client, "counter") == 43
    finally:
        gateway.stop()
        reset_moto()


def test_a_failed_compaction_loses_nothing_and_is_retried(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a gateway whose snapshot cannot be written (a full disk)
    gateway.compact_bytes = 2048
    client = gateway.start()
    _seed(client)
    assert gateway.journal is not None
    done_before = gateway.journal.online_compactions

    def full_disk(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DurableDynamoDB, "_write_snapshot", full_disk)
    # WHEN writes pass the compaction limit
    for _ in range(20):
        _bump(client, "counter", below=100)
    # THEN every write was acknowledged, the failure is reported, and the journal still holds them all
    assert gateway.journal.online_compactions == done_before
    assert gateway.journal.compaction_error is not None and "No space left" in gateway.journal.compaction_error
    monkeypatch.undo()
    _bump(client, "counter", below=100)  # the next attempt, after another 2 KB, succeeds
    for _ in range(20):
        _bump(client, "counter", below=100)
    assert gateway.journal.online_compactions > done_before and gateway.journal.compaction_error is None
    client = gateway.restart()
    assert _count(client, "counter") == 44
