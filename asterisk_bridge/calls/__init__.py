"""The call domain: one record per contact-center call, from AMI events (and Asterisk's queue_log
for what AMI missed) to the store.

``model`` (the types and value sets), ``outcome`` (the one rule for an outcome and a wait),
``tracker`` with ``channel_events`` and ``queue_legs`` (pure: events in, updates out),
``queue_log`` (pure), ``follower`` (the edge: the AMI connection, the store, reconciliation).
"""
