-- 011: how an invitation's sender was vouched for. store-invite takes a sender only
-- when it is the access token's own user ('token', v2) or a user of a homeserver
-- listed in legacy.homeservers calling from its network ('legacy', v1). Invitations
-- stored before had an unchecked sender (anyone could invite anyone): they stay, with
-- no verified_by, and open nothing (enrollment gate, internal-info, bind).
ALTER TABLE annuaire.invites ADD COLUMN verified_by text;
ALTER TABLE annuaire.invites ADD CONSTRAINT invites_verified_by_check
    CHECK (verified_by IN ('token', 'legacy'));
