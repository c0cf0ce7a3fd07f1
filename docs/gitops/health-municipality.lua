-- Argo CD health of a concejo.dev/v1alpha1 Municipality (docs/gitops.md).
-- Lua 5.1 as Argo CD runs it (gopher-lua; base and table libraries only): `obj` is the object.
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

-- Reasons of a False part that concejo does not get past by retrying: a person has to act
-- (the Province's CA Secret, a StorageClass, the backup target, a failing backup, an API error).
local needs_a_human = {
  ApplyFailed = true,
  CredentialsUnreadable = true,
  IssueFailed = true,
  KeyUnavailable = true,
  RunsFailed = true,
  CAUnreadable = true,
  ExpansionNotSupported = true,
  TargetMissing = true,
  BackupFailed = true,
}
local parts = { "Isolated", "CertificateReady", "StorageReady", "CollaborationReady", "BackupReady" }

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for concejo to reconcile this Municipality"
  return hs
end
if status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for concejo to reconcile generation " .. obj.metadata.generation
    .. " (its status describes generation " .. status.observedGeneration .. ")"
  return hs
end
local ready = condition(status, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for concejo to report the Ready condition"
  return hs
end
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = said(ready)
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
local valid = condition(status, "Valid")
if valid ~= nil and valid.status == "False" then
  hs.status = "Degraded"
  hs.message = said(valid)
  return hs
end
for _, part in ipairs(parts) do
  local c = condition(status, part)
  if c ~= nil and c.status == "False" and needs_a_human[c.reason] then
    hs.status = "Degraded"
    hs.message = said(c)
    return hs
  end
end
if status.phase == "Degraded" then
  hs.status = "Degraded"
elseif status.phase == "Suspended" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = said(ready)
return hs
