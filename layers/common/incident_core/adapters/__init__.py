"""Adapters to AWS services the use cases drive (Step Functions, ...): boto3 behind the use cases' protocols."""
