"""The truthloop service: the A2I and Ground Truth APIs on DynamoDB, S3, SQS, EventBridge and Lambda.

The same HTTP application, protocol validation and engine steps as ``truthloop local up``; what differs is behind
interfaces: the store (:class:`~truthloop.local.storage.dynamodb.DynamoDBStorage`), how an engine step is triggered
(:class:`~truthloop.service.runner.SqsStepRunner`), how a Lambda is invoked
(:class:`~truthloop.service.invoker.LambdaInvoker`) and where events go
(:class:`~truthloop.service.events.EventBridgePublisher`). The Lambda entry points are ``lambdas/service_api``,
``lambdas/service_engine`` and ``lambdas/service_sweep``; their work is in :mod:`truthloop.service.entry`.
Configuration: :mod:`truthloop.service.settings`. See ``docs/service.md``.
"""

from __future__ import annotations

from truthloop.service.app import Clients, Service, ServiceApp
from truthloop.service.settings import ServiceSettings

__all__ = ["Clients", "Service", "ServiceApp", "ServiceSettings"]
