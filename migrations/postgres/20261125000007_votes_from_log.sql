-- A reviewer's approval is its `approve` row in the append-only approval log. This unique index
-- is the database's own guarantee that it counts once towards the quorum, which is what the
-- approval_votes table was for; its rows only repeated those log rows, at the cost of one more
-- write in every decision.
create unique index approval_log_one_vote on approval_log(approval_id, actor) where kind = 'approve';
drop table approval_votes;
