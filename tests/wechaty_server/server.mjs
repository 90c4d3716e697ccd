// Test-only Wechaty puppet-service server around a mock WeChat (wechaty-puppet-mock).
//
//   node server.mjs PORT TOKEN
//
// Serves plain gRPC (no TLS: the Python SDK speaks plaintext only) on 127.0.0.1:PORT.
// The test drives the mock through JSON lines on stdin and reads JSON lines on stdout:
//
//   stdin  {"seq": 1, "op": "contact", "id": "c1", "name": "张三", "alias": "张姐"}
//          {"seq": 2, "op": "room", "id": "r1@chatroom", "topic": "…", "members": ["c1"]}
//          {"seq": 3, "op": "say", "from": "c1", "to": "adviser"|"c2", "room": "r1@chatroom",
//                      "text": "…", "type": "Text"|"Image"|"Url"|…, "id": "m1", "mentions": [ids]}
//          {"seq": 4, "op": "emit", "id": "m1"}             (deliver message m1 again)
//          {"seq": 5, "op": "friendship", "id": "f1", "contact": "c1", "hello": "…"}
//          {"seq": 6, "op": "burst", "contacts": ["b0", …], "per_contact": 20, "prefix": "b",
//                      "seed": 1, "texts": […]}   (contacts created if new; messages
//                      "<prefix>-<contact>-<k>" emitted at once, interleaved in a seeded
//                      random order that keeps each contact's k ascending, their texts taken
//                      in turn from "texts" if given; the ack lists the ids in emission order)
//          {"seq": 7, "op": "late", "id": "m9", "from": "c1", "text": "…", "delay_ms": 1500}
//                      (the message event now, its payload only after delay_ms)
//          {"seq": 8, "op": "ghost", "id": "m10"}           (an event whose payload never exists)
//          {"seq": 9, "op": "scan", "qrcode": "…", "status": 2}
//          {"seq": 10, "op": "logout"}  /  {"op": "login"}
//   env    MOCK_ADVISER_ID (default adviser-wxid), MOCK_AUTOLOGIN=0 (wait for "login")
//   stdout {"event": "ready", "port": N}                   once the server listens
//          {"event": "ack", "seq": N, ...}                 after each command
//          {"event": "sent", "id", "to", "text"}          the bot sent a text (say())
//          {"event": "accepted", "id", "contact"}        the bot accepted a friendship
//          {"event": "alias", "contact", "alias"}        the bot set an alias
//
// The subclass of PuppetMock fills in what the mock leaves out: send returns
// the new message id, a friendship has a real payload, accept and alias do something.
process.env.WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER = 'true'

import readline from 'node:readline'
import * as PUPPET from 'wechaty-puppet'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const port = Number(process.argv[2])
const token = process.argv[3]
const ADVISER = process.env.MOCK_ADVISER_ID || 'adviser-wxid'
const AUTOLOGIN = process.env.MOCK_AUTOLOGIN !== '0'

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
let nextId = 0
const newId = (prefix) => `${prefix}-${process.pid}-${++nextId}`

class TestPuppet extends PuppetMock {
  friendships = new Map()
  aliases = new Map()

  async onStart () {
    await super.onStart()
    // Log the adviser in each time a client starts the puppet (the Python client calls
    // stop() then start() when it connects).
    if (AUTOLOGIN) setTimeout(() => { if (!this.isLoggedIn) this.mocker.login(user) }, 10)
  }

  async messageSendText (conversationId, text) {
    const payload = {
      id: newId('sent'),
      talkerId: this.currentUserId,
      timestamp: Date.now(),
      type: PUPPET.types.Message.Text,
      text,
    }
    if (conversationId.includes('@')) payload.roomId = conversationId
    else payload.listenerId = conversationId
    this.mocker.MessageMock.create(payload)
    out({ event: 'sent', id: payload.id, to: conversationId, text })
    // The adviser's own message comes back as a message event, like on a real account.
    setImmediate(() => this.emit('message', { messageId: payload.id }))
    return payload.id
  }

  async friendshipRawPayload (id) {
    const payload = this.friendships.get(id)
    if (!payload) throw new Error('no friendship ' + id)
    return payload
  }

  async friendshipAccept (id) {
    const payload = this.friendships.get(id)
    if (!payload) throw new Error('no friendship ' + id)
    payload.type = PUPPET.types.Friendship.Confirm
    out({ event: 'accepted', id, contact: payload.contactId })
  }

  async contactAlias (contactId, alias) {
    if (typeof alias === 'undefined') {
      return this.aliases.get(contactId) ?? this.mocker.contactPayload(contactId).alias ?? ''
    }
    this.aliases.set(contactId, alias)
    out({ event: 'alias', contact: contactId, alias })
  }
}

const mocker = new mock.Mocker()
const puppet = new TestPuppet({ mocker })
const user = mocker.createContact({ id: ADVISER, name: '顾问小王' })

const server = new PuppetServer({
  endpoint: `127.0.0.1:${port}`,
  puppet,
  token,
  tls: { disable: true },
})

function messageType (name) {
  const value = PUPPET.types.Message[name || 'Text']
  if (value === undefined) throw new Error('unknown message type ' + name)
  return value
}

// A small seeded generator (mulberry32): the same burst order on every run.
function random (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function textMessage (id, from, text) {
  return {
    id,
    talkerId: from,
    listenerId: ADVISER,
    timestamp: Date.now(),
    type: PUPPET.types.Message.Text,
    text,
  }
}

function burst (cmd) {
  const prefix = cmd.prefix || 'b'
  const perContact = cmd.per_contact || 1
  const next = random(cmd.seed || 1)
  for (const c of cmd.contacts) {
    if (!mocker.cacheContactPayload.has(c)) {
      mocker.createContact({ id: c, name: 'name-' + c, type: PUPPET.types.Contact.Individual })
    }
  }
  const left = new Map(cmd.contacts.map((c) => [c, 0]))
  const ids = []
  while (left.size) {
    const open = [...left.keys()]
    const c = open[Math.floor(next() * open.length)]
    const k = left.get(c)
    const id = `${prefix}-${c}-${k}`
    const text = cmd.texts ? cmd.texts[ids.length % cmd.texts.length] : `${c} 第${k}条`
    mocker.MessageMock.create(textMessage(id, c, text))
    puppet.emit('message', { messageId: id })
    ids.push(id)
    if (k + 1 >= perContact) left.delete(c)
    else left.set(c, k + 1)
  }
  return { ids }
}

async function handle (cmd) {
  switch (cmd.op) {
    case 'contact': {
      mocker.createContact({
        id: cmd.id,
        name: cmd.name,
        alias: cmd.alias,
        friend: cmd.friend ?? true,
        type: PUPPET.types.Contact.Individual,
      })
      return {}
    }
    case 'room': {
      mocker.createRoom({
        id: cmd.id,
        topic: cmd.topic,
        memberIdList: [ADVISER, ...(cmd.members || [])],
        adminIdList: [],
      })
      return {}
    }
    case 'say': {
      const from = cmd.from === 'adviser' ? ADVISER : cmd.from
      const payload = {
        id: cmd.id || newId('msg'),
        talkerId: from,
        timestamp: cmd.timestamp || Date.now(),
        type: messageType(cmd.type),
        text: cmd.text ?? '',
      }
      if (cmd.room) {
        payload.roomId = cmd.room
        payload.mentionIdList = (cmd.mentions || []).map((m) => (m === 'adviser' ? ADVISER : m))
      } else {
        payload.listenerId = cmd.to === 'adviser' || !cmd.to ? ADVISER : cmd.to
      }
      mocker.MessageMock.create(payload)
      puppet.emit('message', { messageId: payload.id })
      return { id: payload.id }
    }
    case 'emit': {
      puppet.emit('message', { messageId: cmd.id })
      return {}
    }
    case 'burst':
      return burst(cmd)
    case 'late': {
      puppet.emit('message', { messageId: cmd.id })
      setTimeout(() => {
        mocker.MessageMock.create(textMessage(cmd.id, cmd.from, cmd.text ?? ''))
        out({ event: 'late-ready', id: cmd.id })
      }, cmd.delay_ms ?? 1000)
      return {}
    }
    case 'ghost': {
      puppet.emit('message', { messageId: cmd.id })
      return {}
    }
    case 'scan': {
      puppet.emit('scan', { qrcode: cmd.qrcode, status: cmd.status ?? PUPPET.types.ScanStatus.Waiting })
      return {}
    }
    case 'logout': {
      await puppet.logout('logged out on the phone')
      return {}
    }
    case 'login': {
      mocker.login(user)
      return {}
    }
    case 'friendship': {
      puppet.friendships.set(cmd.id, {
        id: cmd.id,
        contactId: cmd.contact,
        hello: cmd.hello ?? '',
        timestamp: Math.floor(Date.now() / 1000),
        type: PUPPET.types.Friendship.Receive,
      })
      puppet.emit('friendship', { friendshipId: cmd.id })
      return {}
    }
    default:
      throw new Error('unknown op ' + cmd.op)
  }
}

await server.start()
out({ event: 'ready', port })

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  if (!line.trim()) return
  let cmd
  try {
    cmd = JSON.parse(line)
    out({ event: 'ack', seq: cmd.seq, ...(await handle(cmd)) })
  } catch (e) {
    out({ event: 'ack', seq: cmd?.seq, error: String(e) })
  }
})
// Exit with the test: stdin closed, or a signal.
rl.on('close', () => shutdown())
process.on('SIGTERM', () => shutdown())
process.on('SIGINT', () => shutdown())

let stopping = false
async function shutdown () {
  if (stopping) return
  stopping = true
  setTimeout(() => process.exit(0), 1000).unref()
  try { await server.stop() } catch (e) { /* exiting anyway */ }
  process.exit(0)
}
