"""The DynamoDB table of the truthloop service: one table, three overloaded sparse indexes, TTL on ``purge_at``.

Everyone who creates the table reads :data:`TABLE_SCHEMA` (the CDK stack, ``truthloop service local``, the tests),
so the layout lives in one place. ``docs/service.md`` ("Storage: table layout") explains every key and index.

* table ``pk``/``sk``: every item by its identity (``LOOP#<name>``, ``TASK#<id>`` with its assignments beside it, ...)
* ``gsi1`` (``g1pk``/``g1sk``): listings in order: resources of a kind by creation time, a flow's loops by creation
  time, a job's objects by status, an owner's tasks by status
* ``gsi2`` (``g2pk``/``g2sk``): resources by status, loops by status, and the claim queue of open tasks per workteam
* ``gsi3`` (``g3pk``/``g3sk``): due work, sparse: tasks by expiry, assignments by deadline, tasks to settle,
  events to deliver
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["INDEXES", "TABLE_SCHEMA", "TTL_ATTRIBUTE", "create_table"]

#: the epoch-seconds attribute DynamoDB's TTL deletes items by (finished loops, settled tasks, delivered events)
TTL_ATTRIBUTE = "purge_at"
#: index name -> (partition key attribute, sort key attribute)
INDEXES: dict[str, tuple[str, str]] = {"gsi1": ("g1pk", "g1sk"), "gsi2": ("g2pk", "g2sk"), "gsi3": ("g3pk", "g3sk")}

#: the table's definition as plain data (CreateTable's arguments without TableName, plus the TTL attribute)
TABLE_SCHEMA: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("pk", "sk", *(attribute for keys in INDEXES.values() for attribute in keys))
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index, (hash_key, range_key) in INDEXES.items()
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "TimeToLiveAttribute": TTL_ATTRIBUTE,
}


def create_table(client: DynamoDBClient, name: str, *, wait: bool = True) -> None:
    """Create table ``name`` with :data:`TABLE_SCHEMA` and turn TTL on (tests and local runs; AWS uses the CDK)."""
    schema = copy.deepcopy(TABLE_SCHEMA)
    ttl_attribute = schema.pop("TimeToLiveAttribute")
    client.create_table(TableName=name, **schema)
    if wait:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
    )
