-- wrk script: POST /v1/risk-assessments with the api.md example, as the issue's load tool
-- runs it. The token and the body file come from the environment:
--
--   uv run python -c "from tests.support.assessment_bodies import example_request; \
--     import json; print(json.dumps(example_request()))" > /tmp/body.json
--   TOKEN=drk_... BODY=/tmp/body.json wrk -t1 -c16 -d10s -s bench/wrk_assessment.lua \
--     http://127.0.0.1:8000/v1/risk-assessments
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local file = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = file:read("*a")
file:close()

-- wrk itself reports "Non-2xx or 3xx responses" when there are any.
function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
