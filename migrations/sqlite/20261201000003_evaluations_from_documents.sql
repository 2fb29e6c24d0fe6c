-- Gate verdicts are part of the plan document, which is stored whole and never changes. Until now
-- each plan also copied them into one `plan_evaluations` row per gate for the plan and for every
-- step: 16,004 rows for a 2,000-item plan, most of the time spent storing it. The rows are now
-- read out of the documents by a view with the same name and columns, so nothing is stored twice
-- and no row can disagree with its plan. `step_index` is -1 for the plan-level rows, and with
-- `gate_index` gives the plan's order. `planner` is the model and `provider` the part before the
-- `/` of the plan's planner, as the rows held them.
drop index plan_evaluations_plan;
drop table plan_evaluations;

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
       p.created_at as created_at
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
       p.created_at
from plans p, json_each(p.graph, '$.steps') s, json_each(s.value, '$.verdicts') v;
