-- Planner comparisons: one request sent to every configured provider, each provider's candidate
-- (its status, figures, score and, when valid, its gated plan document), which one was kept and
-- by whom. A candidate's gate verdicts are part of its document, read out per step and per model
-- by the plan_evaluations view below, like a plan's.

create table model_comparisons (
    id integer primary key autoincrement,
    request text not null,
    item_count integer not null,
    best_index integer,
    chosen_index integer,
    plan_id integer references plans(id) on delete set null,
    chosen_by text,
    chosen_at integer,
    created_by text not null,
    created_at integer not null
);
create index model_comparisons_created on model_comparisons(created_at);

create table comparison_candidates (
    comparison_id integer not null references model_comparisons(id) on delete cascade,
    idx integer not null,
    provider text not null,
    planner text not null,
    status text not null,
    error text,
    rationale text not null,
    latency_ms integer not null,
    input_tokens integer,
    output_tokens integer,
    score real,
    figures text,
    parts text,
    graph text,
    created_at integer not null,
    primary key (comparison_id, idx)
);
create index comparison_candidates_created on comparison_candidates(created_at);

drop view plan_evaluations;

-- The same view, with the candidates' verdicts: `comparison_id` and `candidate` say whose they are
-- (null for a plan's rows, whose `plan_id` is null for a candidate's).
create view plan_evaluations as
select p.id as plan_id,
       null as step_id,
       -1 as step_index,
       v.key as gate_index,
       v.value ->> 'gate' as gate,
       v.value ->> 'verdict' as verdict,
       v.value ->> 'enforcement' as enforcement,
       v.value -> 'rules' as rules,
       v.value -> 'reasons' as reasons,
       v.value -> 'remediation' as remediation,
       case when instr(p.planner, '/') > 0 then substr(p.planner, instr(p.planner, '/') + 1) else p.planner end as planner,
       case when instr(p.planner, '/') > 0 then substr(p.planner, 1, instr(p.planner, '/') - 1) else p.planner end as provider,
       p.created_at as created_at,
       null as comparison_id,
       null as candidate
from plans p, json_each(p.graph, '$.verdicts') v
union all
select p.id,
       s.value ->> 'id',
       s.key,
       v.key,
       v.value ->> 'gate',
       v.value ->> 'verdict',
       v.value ->> 'enforcement',
       v.value -> 'rules',
       v.value -> 'reasons',
       v.value -> 'remediation',
       case when instr(p.planner, '/') > 0 then substr(p.planner, instr(p.planner, '/') + 1) else p.planner end,
       case when instr(p.planner, '/') > 0 then substr(p.planner, 1, instr(p.planner, '/') - 1) else p.planner end,
       p.created_at,
       null,
       null
from plans p, json_each(p.graph, '$.steps') s, json_each(s.value, '$.verdicts') v
union all
select null as plan_id,
       null as step_id,
       -1 as step_index,
       v.key as gate_index,
       v.value ->> 'gate' as gate,
       v.value ->> 'verdict' as verdict,
       v.value ->> 'enforcement' as enforcement,
       v.value -> 'rules' as rules,
       v.value -> 'reasons' as reasons,
       v.value -> 'remediation' as remediation,
       case when instr(c.planner, '/') > 0 then substr(c.planner, instr(c.planner, '/') + 1) else c.planner end as planner,
       case when instr(c.planner, '/') > 0 then substr(c.planner, 1, instr(c.planner, '/') - 1) else c.planner end as provider,
       c.created_at as created_at,
       c.comparison_id as comparison_id,
       c.idx as candidate
from comparison_candidates c, json_each(c.graph, '$.verdicts') v
where c.graph is not null
union all
select null,
       s.value ->> 'id',
       s.key,
       v.key,
       v.value ->> 'gate',
       v.value ->> 'verdict',
       v.value ->> 'enforcement',
       v.value -> 'rules',
       v.value -> 'reasons',
       v.value -> 'remediation',
       case when instr(c.planner, '/') > 0 then substr(c.planner, instr(c.planner, '/') + 1) else c.planner end,
       case when instr(c.planner, '/') > 0 then substr(c.planner, 1, instr(c.planner, '/') - 1) else c.planner end,
       c.created_at,
       c.comparison_id,
       c.idx
from comparison_candidates c, json_each(c.graph, '$.steps') s, json_each(s.value, '$.verdicts') v
where c.graph is not null;
