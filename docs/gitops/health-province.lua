-- Argo CD health of a concejo.dev/v1alpha1 Province (docs/gitops.md).
-- Lua 5.1 as Argo CD runs it (gopher-lua; base and table libraries only): `obj` is the object.
-- A Province is healthy when its own parts are: the CA, and the office pool and the backup
-- repository when it has them. Its town halls have their own health; TenantsReady only counts them.
local hs = {}

local function condition(status, wanted)
  for _, c in ipairs(status.conditions or {}) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function said(c)
  return (c.reason or "") .. ": " .. (c.message or "")
end

-- Reasons concejo does not get past by retrying: a Secret to create or repair, an API error.
local needs_a_human = {
  CASecretUnreadable = true,
  RootSecretNotFound = true,
  RootSecretInvalid = true,
  CredentialsMissing = true,
  IssueFailed = true,
  ApplyFailed = true,
}
local parts = { "CAReady", "OfficeReady", "BackupTargetReady" }

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for concejo to reconcile this Province"
  return hs
end
if status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for concejo to reconcile generation " .. obj.metadata.generation
    .. " (its status describes generation " .. status.observedGeneration .. ")"
  return hs
end
if condition(status, "CAReady") == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for concejo to report the CAReady condition"
  return hs
end
local waiting = nil
for _, part in ipairs(parts) do
  local c = condition(status, part)
  if c ~= nil and c.status ~= "True" then
    if needs_a_human[c.reason] then
      hs.status = "Degraded"
      hs.message = said(c)
      return hs
    end
    if waiting == nil then
      waiting = c
    end
  end
end
if waiting ~= nil then
  hs.status = "Progressing"
  hs.message = said(waiting)
  return hs
end
hs.status = "Healthy"
local tenants = condition(status, "TenantsReady")
if tenants ~= nil then
  hs.message = tenants.message
else
  hs.message = condition(status, "CAReady").message
end
return hs
