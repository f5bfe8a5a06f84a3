"""Ingest tells the scheduler which channels a commit made deliveries due on (docs/design.md
§5.4): the next claim asks those channels, not every channel of every account."""

from dataclasses import replace

from deskhook.core.ingest import IngestCommitter
from deskhook.store.directory import ChannelDirectory
from deskhook.store.memory.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.store_items import NOW, make_channel, matched


async def test_a_commit_names_the_channels_its_accepted_events_matched() -> None:
    store = MemoryStore()
    for channel_id, department_id in [("seven", 7), ("eight", 8)]:
        channel = make_channel(channel_id)
        spec = replace(channel.spec, department_id=department_id)
        await store.insert_channel(replace(channel, spec=spec), "whsec_test", None)
    directory = ChannelDirectory(store)
    await directory.refresh()
    commits: list[set[str]] = []
    committer = IngestCommitter(
        store, directory, now=FakeClock(NOW), on_commit=commits.append, on_acked=lambda _: None
    )
    committer.start()
    try:
        event = matched("first").event
        await committer.submit([event])
        # The same event again is a duplicate: nothing new is due anywhere.
        await committer.submit([event])
        # An event of a department no channel has matches nothing.
        await committer.submit([matched("nowhere").event._replace(department_ids=(9,))])
    finally:
        await committer.stop()
        await directory.close()
    assert commits == [{"seven"}]
