"""it.search.ranking: after a real sync from LDIF, one fixed set searched for "martin"
comes back in rank order: the exact name, exact words, word prefixes (by the word
matched, bytewise), inside a word, one typo (by the word matched), then the same on
entity words; ties by the entry's stable id. An entry that does not match is absent;
inside-word needs 3 letters, a typo 5."""
from search_env import by_id, names, person, synced

PEOPLE = [
    ("uh", "Marc Martn", "Martn", "Marc", "Bureau des affaires"),     # typo (deletion)
    ("ub", "Paul Martin", "Martin", "Paul", "Bureau des affaires"),   # exact word
    ("ud", "Luc Martinez", "Martinez", "Luc", "Bureau des affaires"),  # prefix
    ("ua", "Martin", "Martin", None, "Bureau des affaires"),           # exact name
    ("ug", "Ève Matrin", "Matrin", "Ève", "Bureau des affaires"),      # typo (swap)
    ("uc", "Zoé Martin", "Martin", "Zoé", "Bureau des affaires"),      # exact word
    ("ue", "Anne Martineau", "Martineau", "Anne", "Bureau des affaires"),  # prefix
    ("uf", "Jean Dumartin", "Dumartin", "Jean", "Bureau des affaires"),    # inside
    ("uj", "Paul Blanc", "Blanc", "Paul", "Service de la Martinique"),  # entity prefix
    ("ui", "Rose Durand", "Durand", "Rose", "Mission Martin"),          # entity word
    ("uk", "Sophie Petit", "Petit", "Sophie", "Bureau des affaires"),   # no match
]


def test_ranking(cluster, tmp_path):
    svc = synced(cluster, tmp_path, [person(uid, n, cn, sn, given, ou)
                                     for n, (uid, cn, sn, given, ou) in enumerate(PEOPLE, 1)])
    # the two exact words are ordered by id, whatever it is
    exact = by_id(svc, ["Paul Martin", "Zoé Martin"])
    assert names(svc, "martin", "--limit", "20") == [
        "Martin",                          # 0 exact name
        *exact,                            # 1 exact word, by id
        "Anne Martineau", "Luc Martinez",  # 2 prefix, by word: martineau < martinez
        "Jean Dumartin",                   # 3 inside
        "Marc Martn", "Ève Matrin",        # 4 one typo, by word: martn < matrin
        "Rose Durand",                     # 5 entity word
        "Paul Blanc",                      # 6 entity prefix
    ]
    # Case and accents do not matter; the same order.
    assert names(svc, "MARTÍN", "--limit", "20") == names(svc, "martin", "--limit", "20")
    # Inside a word needs 3 letters, a typo 5.
    assert names(svc, "umar") == ["Jean Dumartin"]
    assert names(svc, "ar") == []
    assert names(svc, "matn") == []
    assert names(svc, "dumratin") == ["Jean Dumartin"]  # a swap in a long word
    assert names(svc, "sophie petit") == ["Sophie Petit"]
