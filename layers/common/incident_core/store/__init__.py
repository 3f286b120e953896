"""The only DynamoDB code: alerts, Port projections (and later incidents and timelines)."""
