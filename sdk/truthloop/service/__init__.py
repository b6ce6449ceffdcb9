"""The truthloop service: the A2I and Ground Truth APIs on DynamoDB, S3, SQS, EventBridge and Lambda.

Client side: ``client("sagemaker-a2i-runtime")`` / ``client("sagemaker")`` return boto3 clients that call the deployed
service, signed with IAM for its API Gateway endpoint (see :mod:`truthloop.service.signing`).

Service side: the same HTTP application, protocol validation and engine steps as ``truthloop local up``; what differs
is behind interfaces: the store (:class:`~truthloop.local.storage.dynamodb.DynamoDBStorage`), how an engine step is
triggered (:class:`~truthloop.service.runner.SqsStepRunner`), how a Lambda is invoked
(:class:`~truthloop.service.invoker.LambdaInvoker`) and where events go
(:class:`~truthloop.service.events.EventBridgePublisher`); :class:`truthloop.service.app.Service` wires them. The
Lambda entry points are ``lambdas/service_api``, ``lambdas/service_engine`` and ``lambdas/service_sweep``; their work
is in :mod:`truthloop.service.entry`. Configuration: :mod:`truthloop.service.settings`. See ``docs/service.md``.
(The service side is not imported here, so a client needs neither Starlette nor Mangum.)
"""

from truthloop.service.signing import client, service_endpoint, sign_for_api_gateway, verify_request

__all__ = ["client", "service_endpoint", "sign_for_api_gateway", "verify_request"]
