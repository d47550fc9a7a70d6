// Test double: a server that behaves on the wire exactly like the seed tutorial's server
// (see docs/classic-protocol.md). Written from the protocol description, for compatibility tests.
// Difference from the seed: errors are caught per datagram (printed as "error ...") instead of
// ending the receive loop, and a pending list connection is given up after 10 s.
//
// Usage: mono SeedServer.exe <host> <udpPort>     (udpPort 0 = pick one)
// stdout: listening <udpPort> <tcpPort> | login <name> <ep> | logout <name> | ignored <text> | error <msg>
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;

public static class SeedServer
{
    static TextWriter Out;

    static void Say(string line) { Out.WriteLine(line); Out.Flush(); }

    static void SendFresh(byte[] bytes, IPEndPoint to)
    {
        UdpClient sender = new UdpClient();
        try { sender.Send(bytes, bytes.Length, to); }
        finally { sender.Close(); }
    }

    public static int Main(string[] args)
    {
        Out = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
        ((StreamWriter)Out).AutoFlush = true;
        Console.SetOut(Out);
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: SeedServer <host> <udpPort>");
            return 2;
        }
        IPAddress host = IPAddress.Parse(args[0]);
        UdpClient udp = new UdpClient(new IPEndPoint(host, int.Parse(args[1])));
        int udpPort = ((IPEndPoint)udp.Client.LocalEndPoint).Port;
        TcpListener listener = new TcpListener(host, 0);
        listener.Start();
        int tcpPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        Say("listening " + udpPort + " " + tcpPort);

        List<KeyValuePair<string, IPEndPoint>> users = new List<KeyValuePair<string, IPEndPoint>>();
        while (true)
        {
            try
            {
                IPEndPoint remote = new IPEndPoint(IPAddress.Any, 0);
                byte[] data = udp.Receive(ref remote);
                string text = Encoding.Unicode.GetString(data);
                string[] split = text.Split(',');
                // Like the seed: field 2 is parsed as IP:port before the command is looked at.
                string[] epParts = split[2].Split(':');
                IPEndPoint ep = new IPEndPoint(IPAddress.Parse(epParts[0]), int.Parse(epParts[1]));
                if (split[0] == "login")
                {
                    users.Add(new KeyValuePair<string, IPEndPoint>(split[1], ep));
                    Say("login " + split[1] + " " + split[2]);
                    SendFresh(Encoding.Unicode.GetBytes("Accept," + tcpPort), ep);
                    if (!listener.Server.Poll(10000000, SelectMode.SelectRead))
                    {
                        Say("error no list connection from " + split[1]);
                    }
                    else
                    {
                        TcpClient tcp = listener.AcceptTcpClient();
                        try
                        {
                            StringBuilder list = new StringBuilder();
                            foreach (KeyValuePair<string, IPEndPoint> u in users)
                                list.Append(u.Key).Append(',').Append(u.Value.ToString()).Append(';');
                            list.Append("end");
                            BinaryWriter writer = new BinaryWriter(tcp.GetStream());
                            writer.Write(list.ToString());
                            writer.Flush();
                        }
                        finally { tcp.Close(); }
                    }
                    // Forward the login datagram, unchanged, to every other user.
                    for (int i = 0; i < users.Count - 1; i++)
                        SendFresh(data, users[i].Value);
                }
                else if (split[0] == "logout")
                {
                    for (int i = 0; i < users.Count; i++)
                    {
                        if (users[i].Key == split[1]) { users.RemoveAt(i); break; }
                    }
                    Say("logout " + split[1]);
                    foreach (KeyValuePair<string, IPEndPoint> u in users)
                        SendFresh(data, u.Value);
                }
                else
                {
                    Say("ignored " + text);
                }
            }
            catch (Exception e)
            {
                Say("error " + e.Message.Replace('\n', ' ').Replace('\r', ' '));
            }
        }
    }
}
