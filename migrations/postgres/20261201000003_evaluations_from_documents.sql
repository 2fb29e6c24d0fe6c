-- Gate verdicts are part of the plan document, which is stored whole and never changes. Until now
-- each plan also copied them into one `plan_evaluations` row per gate for the plan and for every
-- step: 16,004 rows for a 2,000-item plan, most of the time spent storing it. The rows are now
-- read out of the documents by a view with the same name and columns, so nothing is stored twice
-- and no row can disagree with its plan. `step_index` is -1 for the plan-level rows, and with
-- `gate_index` gives the plan's order. `planner` is the model and `provider` the part before the
-- `/` of the plan's planner, as the rows held them.
drop table plan_evaluations;

create view plan_evaluations as
select p.id as plan_id,
       cast(null as text) as step_id,
       cast(-1 as bigint) as step_index,
       v.n - 1 as gate_index,
       v.value ->> 'gate' as gate,
       v.value ->> 'verdict' as verdict,
       v.value ->> 'enforcement' as enforcement,
       cast(v.value -> 'rules' as text) as rules,
       cast(v.value -> 'reasons' as text) as reasons,
       cast(v.value -> 'remediation' as text) as remediation,
       case when strpos(p.planner, '/') > 0 then substr(p.planner, strpos(p.planner, '/') + 1) else p.planner end as planner,
       case when strpos(p.planner, '/') > 0 then substr(p.planner, 1, strpos(p.planner, '/') - 1) else p.planner end as provider,
       p.created_at as created_at
from plans p
cross join lateral json_array_elements(cast(p.graph as json) -> 'verdicts') with ordinality as v(value, n)
union all
select p.id,
       s.value ->> 'id',
       s.n - 1,
       v.n - 1,
       v.value ->> 'gate',
       v.value ->> 'verdict',
       v.value ->> 'enforcement',
       cast(v.value -> 'rules' as text),
       cast(v.value -> 'reasons' as text),
       cast(v.value -> 'remediation' as text),
       case when strpos(p.planner, '/') > 0 then substr(p.planner, strpos(p.planner, '/') + 1) else p.planner end,
       case when strpos(p.planner, '/') > 0 then substr(p.planner, 1, strpos(p.planner, '/') - 1) else p.planner end,
       p.created_at
from plans p
cross join lateral json_array_elements(cast(p.graph as json) -> 'steps') with ordinality as s(value, n)
cross join lateral json_array_elements(s.value -> 'verdicts') with ordinality as v(value, n);
