-- Claims and the scheduler's timer look up a channel's earliest due deliveries: this keeps
-- them to a few index steps however long the backlog (without it, every pending row of the
-- channel was sorted on each claim).
CREATE INDEX deliveries_due_by_channel ON deliveries (channel_id, due_at, id)
    WHERE state = 'pending';
