"""vidreid.eval.bootstrap: intervals from resampling people, on hand-made cases whose resamples can be listed."""
import numpy as np
import pytest

from vidreid.eval.bootstrap import paired_differences, person_bootstrap, person_resamples

# person 7 has two queries (AP 1.0 and 0.5), person 3 one (AP 0.0). Drawing 2 people with replacement:
#   {7, 7} (prob 1/4): (1 + .5 + 1 + .5) / 4 = 0.75;  {3, 3} (1/4): 0.0;  {7, 3} (1/2): (1 + .5 + 0) / 3 = 0.5
AP = np.array([1.0, 0.0, 0.5])
PEOPLE = np.array([7, 3, 7])


def test_resamples_draw_as_many_people_as_there_are():
    counts, inverse = person_resamples(PEOPLE, 500, seed=1)
    assert counts.shape == (500, 2) and (counts.sum(1) == 2).all()
    np.testing.assert_array_equal(inverse, [1, 0, 1])                       # sorted identities: 3 -> 0, 7 -> 1


def test_two_people_give_exactly_the_three_possible_means_with_their_odds():
    r = person_bootstrap(AP, PEOPLE, n_resamples=20000, seed=0)
    assert r.mean == pytest.approx(0.5)                                      # the plain mean over the 3 queries
    values, freq = np.unique(np.round(r.samples, 12), return_counts=True)
    np.testing.assert_allclose(values, [0.0, 0.5, 0.75])
    np.testing.assert_allclose(freq / freq.sum(), [0.25, 0.5, 0.25], atol=0.015)
    assert r.low == 0.0 and r.high == 0.75                                  # 2.5 % in {3,3}, 97.5 % in {7,7}
    r80 = person_bootstrap(AP, PEOPLE, n_resamples=20000, seed=0, level=0.4)   # 30 % and 70 %: the middle value
    assert r80.low == r80.high == 0.5


def test_resampling_people_is_wider_than_resampling_queries():
    """Ten people of ten queries each, all of one person right or all wrong: a query-level bootstrap (each query its
    own person) sees 100 independent draws, the person-level one only 10."""
    people = np.repeat(np.arange(10), 10)
    hits = np.repeat(np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0.0]), 10)
    by_person = person_bootstrap(hits, people, 5000)
    by_query = person_bootstrap(hits, np.arange(100), 5000)
    assert by_person.mean == by_query.mean == 0.6
    assert (by_person.high - by_person.low) > 2 * (by_query.high - by_query.low)


def test_paired_differences_use_the_same_people():
    """Row 1 = row 0 + 0.1 on every query: every resample's difference is exactly 0.1, an interval of width 0,
    though each row alone is as noisy as in the two-people case."""
    rows = np.stack([AP, AP + 0.1, AP[::-1]])
    d = paired_differences(rows, PEOPLE, reference=0, n_resamples=4000)
    np.testing.assert_allclose(d.samples[:, 0], 0.0)
    np.testing.assert_allclose(d.samples[:, 1], 0.1)
    assert d.low[1] == pytest.approx(0.1) and d.high[1] == pytest.approx(0.1)
    np.testing.assert_array_equal(d.beyond_noise[:2], [False, True])
    # row 2 swaps the APs of queries 0 and 2 (one person) and keeps query 1: its person sums, so every mean, agree
    np.testing.assert_allclose(d.samples[:, 2], 0.0, atol=1e-12)
    assert not d.beyond_noise[2]
    single = person_bootstrap(rows, PEOPLE, 4000)
    np.testing.assert_allclose(single.samples[:, 1] - single.samples[:, 0], 0.1)
