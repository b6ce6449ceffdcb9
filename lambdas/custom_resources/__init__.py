"""CloudFormation custom-resource handlers for resources CloudFormation has no type for.

Each module exposes ``on_event`` and ``is_complete`` for CDK's provider framework
(``aws_cdk.custom_resources.Provider``): ``on_event`` starts the create/update/delete and returns the physical
id; ``is_complete`` is polled by the framework until the resource reaches its final state. Raising an exception
fails the CloudFormation operation with the exception's message as the reason.
"""
