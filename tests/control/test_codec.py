"""Decoding what Redis answers: raw WITHSCORES replies in either protocol's shape."""

from agentconsole.control import codec


def test_score_pairs_reads_resp3_pairs_and_resp2_flat_replies():
    assert codec.score_pairs([[b"a", 1.5], [b"b", 2.0]]) == [(b"a", 1.5), (b"b", 2.0)]
    assert codec.score_pairs([b"a", b"1.5", b"b", b"2"]) == [(b"a", 1.5), (b"b", 2.0)]
    assert codec.score_pairs([]) == [] and codec.score_pairs(None) == []
