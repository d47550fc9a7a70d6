// Test double: a client that behaves on the wire exactly like the seed tutorial's client
// (see docs/classic-protocol.md). Written from the protocol description, for compatibility tests.
//
// Usage: mono SeedClient.exe <serverHost> <serverUdpPort> <name> <localIp> [<localPort>]
//   (localPort defaults to 0 = ephemeral; an extra of ours, for byte-exact tests)
// stdout (one line per event, UTF-8, flushed):
//   ready <receiveEndpoint> | list <raw list> | joined <name> <ep> | left <name>
//   message <time>|<sender>|<text> | ignored <datagram text> | error <message> | bye
// stdin commands: "talk <name> <text...>", "logout".
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

public static class SeedClient
{
    static readonly object Gate = new object();
    // The peer list as the seed keeps it: name -> endpoint (list + joins - leaves).
    static readonly List<KeyValuePair<string, IPEndPoint>> Peers = new List<KeyValuePair<string, IPEndPoint>>();
    static TextWriter Out;
    static UdpClient Receiver;
    static IPEndPoint ServerEp;
    static IPEndPoint MyEp;
    static string MyName;
    static volatile bool Stopping;

    static void Say(string line)
    {
        lock (Gate) { Out.WriteLine(line); Out.Flush(); }
    }

    static IPAddress ResolveHost(string host)
    {
        IPAddress ip;
        if (IPAddress.TryParse(host, out ip)) return ip;
        foreach (IPAddress a in Dns.GetHostAddresses(host))
            if (a.AddressFamily == AddressFamily.InterNetwork) return a;
        throw new ArgumentException("cannot resolve " + host);
    }

    // "IP:port" split as the seed does it (IPv4 only).
    static IPEndPoint ParseEndPoint(string s)
    {
        string[] parts = s.Split(':');
        return new IPEndPoint(IPAddress.Parse(parts[0]), int.Parse(parts[1]));
    }

    // Every send goes from a fresh, ephemeral UDP socket, as in the seed.
    static void SendFresh(string text, IPEndPoint to)
    {
        byte[] bytes = Encoding.Unicode.GetBytes(text);
        UdpClient sender = new UdpClient();
        try { sender.Send(bytes, bytes.Length, to); }
        finally { sender.Close(); }
    }

    static void RemovePeer(string name)
    {
        lock (Gate)
        {
            for (int i = 0; i < Peers.Count; i++)
            {
                if (Peers[i].Key == name) { Peers.RemoveAt(i); break; }
            }
        }
    }

    static void HandleDatagram(byte[] data, IPEndPoint remote)
    {
        string text = Encoding.Unicode.GetString(data);
        string[] split = text.Split(',');
        switch (split[0])
        {
            case "Accept":
            {
                int port = int.Parse(split[1]);
                TcpClient tcp = new TcpClient();
                try
                {
                    tcp.Connect(remote.Address, port);
                    BinaryReader reader = new BinaryReader(tcp.GetStream());
                    string list = reader.ReadString();
                    lock (Gate)
                    {
                        Peers.Clear();
                        foreach (string entry in list.Split(';'))
                        {
                            if (entry == "end") break;
                            if (entry.Length == 0) continue;
                            string[] f = entry.Split(',');
                            Peers.Add(new KeyValuePair<string, IPEndPoint>(f[0], ParseEndPoint(f[1])));
                        }
                    }
                    Say("list " + list);
                }
                finally { tcp.Close(); }
                break;
            }
            case "login":
            {
                IPEndPoint ep = ParseEndPoint(split[2]);
                lock (Gate) { Peers.Add(new KeyValuePair<string, IPEndPoint>(split[1], ep)); }
                Say("joined " + split[1] + " " + split[2]);
                break;
            }
            case "logout":
            {
                RemovePeer(split[1]);
                Say("left " + split[1]);
                break;
            }
            case "talk":
            {
                // The seed shows field 1 as time, field 2 as sender, field 3 as the text
                // (anything after a further comma is lost).
                Say("message " + split[1] + "|" + split[2] + "|" + split[3]);
                break;
            }
            default:
                Say("ignored " + text);
                break;
        }
    }

    static void ReceiveLoop()
    {
        while (true)
        {
            try
            {
                IPEndPoint remote = new IPEndPoint(IPAddress.Any, 0);
                byte[] data = Receiver.Receive(ref remote);
                HandleDatagram(data, remote);
            }
            catch (ObjectDisposedException) { return; }
            catch (ThreadAbortException) { return; }
            catch (Exception e)
            {
                if (Stopping) return;
                Say("error " + e.Message.Replace('\n', ' ').Replace('\r', ' '));
            }
        }
    }

    static void HandleCommand(string line)
    {
        if (line.StartsWith("talk "))
        {
            string rest = line.Substring(5);
            int space = rest.IndexOf(' ');
            string name = space < 0 ? rest : rest.Substring(0, space);
            string message = space < 0 ? "" : rest.Substring(space + 1);
            IPEndPoint to = null;
            lock (Gate)
            {
                foreach (KeyValuePair<string, IPEndPoint> p in Peers)
                    if (p.Key == name) { to = p.Value; break; }
            }
            if (to == null) { Say("error unknown peer " + name); return; }
            SendFresh("talk," + DateTime.Now.ToLongTimeString() + "," + MyName + "," + message, to);
        }
        else if (line == "logout")
        {
            SendFresh("logout," + MyName + "," + MyEp.ToString(), ServerEp);
            Say("bye");
            Stopping = true;
            try { Receiver.Close(); } catch (Exception) { }
            Environment.Exit(0);
        }
        else
        {
            Say("error unknown command " + line);
        }
    }

    public static int Main(string[] args)
    {
        Out = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
        ((StreamWriter)Out).AutoFlush = true;
        Console.SetOut(Out);
        if (args.Length < 4)
        {
            Console.Error.WriteLine("usage: SeedClient <serverHost> <serverUdpPort> <name> <localIp>");
            return 2;
        }
        ServerEp = new IPEndPoint(ResolveHost(args[0]), int.Parse(args[1]));
        MyName = args[2];
        int localPort = args.Length > 4 ? int.Parse(args[4]) : 0;
        Receiver = new UdpClient(new IPEndPoint(IPAddress.Parse(args[3]), localPort));
        MyEp = (IPEndPoint)Receiver.Client.LocalEndPoint;

        SendFresh("login," + MyName + "," + MyEp.ToString(), ServerEp);
        Say("ready " + MyEp.ToString());

        Thread t = new Thread(ReceiveLoop);
        t.IsBackground = true;
        t.Start();

        TextReader input = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
        string line;
        while ((line = input.ReadLine()) != null)
        {
            line = line.TrimEnd('\r');
            if (line.Length == 0) continue;
            try { HandleCommand(line); }
            catch (Exception e) { Say("error " + e.Message.Replace('\n', ' ').Replace('\r', ' ')); }
        }
        // stdin closed without "logout": just go away (like a crashed client).
        Stopping = true;
        Environment.Exit(0);
        return 0;
    }
}
