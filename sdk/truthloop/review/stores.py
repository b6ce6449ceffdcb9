"""A DynamoDB-backed :class:`~truthloop.review.policy.BudgetStore`, so a fleet of routers shares one budget."""

from __future__ import annotations

from typing import Any

from truthloop.aws import map_client_errors
from truthloop.exceptions import AwsError

__all__ = ["DynamoDBBudgetStore"]


class DynamoDBBudgetStore:
    """Budget counters as DynamoDB items ``{<key_attribute>: "budget#<counter>", "loops": n, "expiresAt": t}``.

    ``acquire`` is one conditional ``UpdateItem`` (atomic across concurrent routers); ``expiresAt`` (epoch
    seconds) suits a TTL attribute so finished windows disappear. The table may be shared with other items.
    """

    def __init__(self, table_name: str, *, client: Any = None, key_attribute: str = "pk") -> None:
        self.table_name = table_name
        self.key_attribute = key_attribute
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def _key(self, counter: str) -> dict[str, Any]:
        return {self.key_attribute: {"S": f"budget#{counter}"}}

    def acquire(self, counter: str, limit: int, expires_at: float) -> bool:
        try:
            with map_client_errors("UpdateItem"):
                self.client.update_item(
                    TableName=self.table_name,
                    Key=self._key(counter),
                    UpdateExpression="ADD loops :one SET expiresAt = :expires",
                    ConditionExpression="attribute_not_exists(loops) OR loops < :limit",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(int(limit))},
                        ":expires": {"N": str(int(expires_at))},
                    },
                )
        except AwsError as exc:
            if exc.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, counter: str) -> None:
        try:
            with map_client_errors("UpdateItem"):
                self.client.update_item(
                    TableName=self.table_name,
                    Key=self._key(counter),
                    UpdateExpression="ADD loops :minus",
                    ConditionExpression="loops > :zero",
                    ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
                )
        except AwsError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise

    def count(self, counter: str) -> int:
        with map_client_errors("GetItem"):
            item = self.client.get_item(TableName=self.table_name, Key=self._key(counter), ConsistentRead=True)
        loops = item.get("Item", {}).get("loops", {}).get("N", "0")
        return int(loops)
