"""truthloop infrastructure: the CDK app (app.py), its stacks, constructs and the Lambda layer build."""
